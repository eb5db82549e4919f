package main

import (
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func wantErr(t *testing.T, r result, parts ...string) {
	t.Helper()
	if r.err == nil {
		t.Fatalf("no error; stdout:\n%s", r.stdout)
	}
	t.Logf("error: %v", r.err)
	for _, p := range parts {
		if !strings.Contains(r.err.Error(), p) {
			t.Errorf("error lacks %q:\n%v", p, r.err)
		}
	}
}

func TestPermissionDeniedNamesBothRoles(t *testing.T) {
	node, kc := configuredNode(t, "os:reader")
	r := runCtl(t, "--kiln-config", kc, "reboot")
	wantErr(t, r, "your certificate's role (os:reader) may not call Reboot; it needs os:operator",
		"needs role os:operator") // the server's own message is kept
	if status.Code(r.err) != codes.PermissionDenied {
		t.Errorf("code = %v, want PermissionDenied kept for scripts", status.Code(r.err))
	}
	if node.reboots != 0 {
		t.Error("node rebooted for a reader")
	}
}

func TestOperatorMayReboot(t *testing.T) {
	node, kc := configuredNode(t, "os:operator")
	r := runCtl(t, "--kiln-config", kc, "reboot")
	if r.err != nil || r.stdout != "reboot requested\n" || node.reboots != 1 {
		t.Errorf("err %v, stdout %q, reboots %d", r.err, r.stdout, node.reboots)
	}
}

func TestMaintenanceModeSaysToApplyAConfig(t *testing.T) {
	addr, _ := serveMaintenance(t)
	r := runCtl(t, "--kiln-config", filepath.Join(t.TempDir(), "none"), "--insecure", "-n", addr, "services")
	wantErr(t, r, "node is in maintenance mode", "kilnctl apply-config --fingerprint SHA256 -f FILE")
}

func TestMutualTLSToAMaintenanceNodeSuggestsInsecure(t *testing.T) {
	addr, _ := serveMaintenance(t)
	ca := newTestCA(t)
	kc := writeContext(t, ca, ca.clientCert(t, "os:admin", time.Time{}), addr)
	r := runCtl(t, "--kiln-config", kc, "version")
	wantErr(t, r, "not signed by this context's CA", "--insecure")
}

func TestExpiredClientCertIsCaughtBeforeDialing(t *testing.T) {
	ca := newTestCA(t)
	expired := ca.clientCert(t, "os:admin", time.Date(2025, 3, 4, 0, 0, 0, 0, time.UTC))
	// Nothing listens on the address: an error about the connection would mean kilnctl
	// dialed before checking the certificate.
	kc := writeContext(t, ca, expired, closedAddr(t))
	r := runCtl(t, "--kiln-config", kc, "version")
	wantErr(t, r, "client certificate expired on 2025-03-04: generate a new one with kilnctl gen cert")
}

func TestConnectionRefusedAsksWhetherTheNodeIsUp(t *testing.T) {
	ca := newTestCA(t)
	kc := writeContext(t, ca, ca.clientCert(t, "os:admin", time.Time{}), closedAddr(t))
	r := runCtl(t, "--kiln-config", kc, "version")
	wantErr(t, r, "connection refused", "is the node up? is port 50000 forwarded?")
}

func TestNodeRefusingTheClientCertificateSaysToMakeANewOne(t *testing.T) {
	nodeCA, otherCA := newTestCA(t), newTestCA(t)
	addr := serveConfigured(t, nodeCA, &fakeNode{})
	crt, key := certPEM(t, otherCA.clientCert(t, "os:admin", time.Time{}))
	kc := writeContextPEM(t, nodeCA.pem(), crt, key, addr)
	r := runCtl(t, "--kiln-config", kc, "version")
	wantErr(t, r, "refuses the client certificate", "kilnctl gen cert")
}

func TestNoContextSaysHowToMakeOne(t *testing.T) {
	r := runCtl(t, "--kiln-config", filepath.Join(t.TempDir(), "none"), "version")
	wantErr(t, r, "kilnctl gen config")
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	return addr
}
