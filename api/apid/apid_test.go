package apid

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	"github.com/kiln-os/kiln/api/machine"
)

// rpcNames lists every MachineService method as "/kiln.machine.v1.MachineService/Name".
func rpcNames(t *testing.T) []string {
	methods := machine.File_machine_machine_proto.Services().ByName("MachineService").Methods()
	var names []string
	for i := 0; i < methods.Len(); i++ {
		names = append(names, fmt.Sprintf("/kiln.machine.v1.MachineService/%s", methods.Get(i).Name()))
	}
	if len(names) < 14 {
		t.Fatalf("found %d RPCs, want at least 14", len(names))
	}
	return names
}

// neededRole is the spec of who may call what, written out independently of the rbac
// table so that a wrong table entry fails here.
func neededRole(method string) string {
	name := method[strings.LastIndex(method, "/")+1:]
	switch name {
	case "ServiceRestart", "ServiceStop", "ServiceStart", "ListFiles", "ReadFile", "Reboot", "Shutdown", "ImageImport":
		return "os:operator"
	case "ApplyConfiguration", "Reset", "Upgrade", "Rollback", "Bootstrap", "EtcdRecover", "Kubeconfig":
		return "os:admin"
	case "EtcdSnapshot":
		return "os:etcd:backup"
	}
	return "os:reader"
}

// grants lists what each role may do: os:etcd:backup is a reader that may also take etcd
// snapshots, which an operator may not.
var grants = map[string][]string{
	"os:reader":      {"os:reader"},
	"os:operator":    {"os:reader", "os:operator"},
	"os:etcd:backup": {"os:reader", "os:etcd:backup"},
	"os:admin":       {"os:reader", "os:operator", "os:etcd:backup", "os:admin"},
}

type fixture struct {
	ca    testCA
	echo  *echoBackend
	addr  string
	roots *x509.CertPool
}

func newFixture(t *testing.T, limits Limits) *fixture {
	ca := newTestCA(t, "kiln os ca")
	echo, backend := startEchoBackend(t)
	addr := startAPID(t, &Server{Certificate: ca.server(t), ClientCAs: ca.Pool, Backend: backend, Limits: limits})
	return &fixture{ca: ca, echo: echo, addr: addr, roots: ca.Pool}
}

func (f *fixture) clientAs(t *testing.T, cn string, orgs ...string) *grpc.ClientConn {
	cert := f.ca.client(t, cn, orgs...)
	return dial(t, f.addr, f.roots, &cert)
}

func TestRoleMatrixOverEveryRPC(t *testing.T) {
	f := newFixture(t, Limits{RatePerSecond: 1e6, Burst: 1e6})
	ctx := context.Background()
	allowed := 0
	for _, role := range []string{"os:reader", "os:operator", "os:etcd:backup", "os:admin"} {
		conn := f.clientAs(t, strings.TrimPrefix(role, "os:"), role)
		for _, method := range rpcNames(t) {
			err := call(ctx, conn, method)
			need := neededRole(method)
			if slices.Contains(grants[role], need) {
				allowed++
				if err != nil {
					t.Errorf("%s calling %s: %v, want success", role, method, err)
				}
				continue
			}
			if status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), need) {
				t.Errorf("%s calling %s: %v, want PermissionDenied naming %s", role, method, err, need)
			}
		}
	}
	f.echo.mu.Lock()
	defer f.echo.mu.Unlock()
	if len(f.echo.calls) != allowed {
		t.Errorf("backend saw %d calls, want %d (only allowed calls are forwarded)", len(f.echo.calls), allowed)
	}
}

func TestNoRoleIsDenied(t *testing.T) {
	f := newFixture(t, Limits{})
	conn := f.clientAs(t, "nobody", "acme")
	err := call(context.Background(), conn, machine.MachineService_Version_FullMethodName)
	if status.Code(err) != codes.PermissionDenied {
		t.Errorf("certificate without a role: %v, want PermissionDenied", err)
	}
}

func TestCallerIdentityForwardedAndNotSpoofable(t *testing.T) {
	f := newFixture(t, Limits{})
	conn := f.clientAs(t, "alice", "os:reader", "os:operator")
	ctx := metadata.AppendToOutgoingContext(context.Background(), MetadataCallerCN, "root", MetadataCallerRoles, "os:admin")
	if err := call(ctx, conn, machine.MachineService_Reboot_FullMethodName); err != nil {
		t.Fatal(err)
	}
	f.echo.mu.Lock()
	md := f.echo.lastMD
	f.echo.mu.Unlock()
	if got := md.Get(MetadataCallerCN); len(got) != 1 || got[0] != "alice" {
		t.Errorf("%s = %q, want [alice]", MetadataCallerCN, got)
	}
	if got := md.Get(MetadataCallerRoles); len(got) != 1 || got[0] != "os:reader,os:operator" {
		t.Errorf("%s = %q, want [os:reader,os:operator]", MetadataCallerRoles, got)
	}
}

func TestHandshakeRejectsBadClientCertificates(t *testing.T) {
	f := newFixture(t, Limits{})
	other := newTestCA(t, "another ca")
	otherCert := other.client(t, "mallory", "os:admin")
	expired := f.ca.Issue(t, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "old", Organization: []string{"os:admin"}},
		NotBefore:   time.Now().Add(-48 * time.Hour),
		NotAfter:    time.Now().Add(-24 * time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	serverOnly := f.ca.Issue(t, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "node", Organization: []string{"os:admin"}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	cases := map[string]*tls.Certificate{"another CA": &otherCert, "expired": &expired, "no certificate": nil, "server-auth only": &serverOnly}
	for name, cert := range cases {
		conn := dial(t, f.addr, f.roots, cert)
		err := call(context.Background(), conn, machine.MachineService_Version_FullMethodName)
		if status.Code(err) != codes.Unavailable {
			t.Errorf("%s: %v, want the handshake to fail (Unavailable)", name, err)
		}
	}
	if n := f.echo.callCount(); n != 0 {
		t.Errorf("backend saw %d calls from rejected clients", n)
	}
}

func TestMaintenanceServesOnlyVersionAndApplyConfiguration(t *testing.T) {
	echo, backend := startEchoBackend(t)
	cert, fingerprint, err := SelfSignedMaintenanceCert(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	addr := startAPID(t, &Server{Certificate: cert, Backend: backend, Maintenance: true})
	conn := dialTLS(t, addr, pinned(fingerprint))
	for _, method := range rpcNames(t) {
		err := call(context.Background(), conn, method)
		allowed := strings.HasSuffix(method, "/Version") || strings.HasSuffix(method, "/ApplyConfiguration")
		switch {
		case allowed && err != nil:
			t.Errorf("maintenance %s: %v, want success", method, err)
		case !allowed && (status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "kilnctl apply-config --fingerprint")):
			t.Errorf("maintenance %s: %v, want Unavailable pointing at apply-config", method, err)
		}
	}
	err = call(context.Background(), conn, grpc_reflection_v1.ServerReflection_ServerReflectionInfo_FullMethodName)
	if status.Code(err) != codes.Unavailable {
		t.Errorf("maintenance reflection: %v, want Unavailable", err)
	}
	if n := echo.callCount(); n != 2 {
		t.Errorf("backend saw %d calls, want 2", n)
	}
}

// pinned trusts exactly the server certificate with the given fingerprint, the way an
// operator compares the console's fingerprint.
func pinned(fingerprint string) *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS13,
		InsecureSkipVerify: true, // replaced by the fingerprint check below
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			sum := sha256.Sum256(raw[0])
			if hex.EncodeToString(sum[:]) != fingerprint {
				return errors.New("fingerprint mismatch")
			}
			return nil
		},
	}
}

func TestMaintenanceCertFingerprint(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	cert, fingerprint, err := SelfSignedMaintenanceCert(now)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(cert.Certificate[0])
	if fingerprint != hex.EncodeToString(sum[:]) || len(fingerprint) != 64 || strings.Contains(fingerprint, ":") {
		t.Errorf("fingerprint %q is not the colon-free hex SHA-256 of the DER", fingerprint)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if !leaf.NotBefore.Before(now) || !leaf.NotAfter.After(now.Add(300*24*time.Hour)) {
		t.Errorf("validity %v..%v does not cover %v and the year after", leaf.NotBefore, leaf.NotAfter, now)
	}
}

func TestServeRefusesMissingInputs(t *testing.T) {
	ca := newTestCA(t, "ca")
	_, backend := startEchoBackend(t)
	cases := map[string]*Server{
		"no certificate": {ClientCAs: ca.Pool, Backend: backend},
		"no client CA":   {Certificate: ca.server(t), Backend: backend},
		"no backend":     {Certificate: ca.server(t), ClientCAs: ca.Pool},
	}
	for name, s := range cases {
		s.Log = logrus.New()
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Serve(context.Background(), lis); err == nil {
			t.Errorf("%s: Serve returned nil", name)
		}
	}
}
