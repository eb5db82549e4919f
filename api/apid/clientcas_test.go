package apid

import (
	"context"
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kiln-os/kiln/api/machine"
)

// TestClientCABundleRotates is CA rotation (issue 12, hole 10): a client certificate
// from a second CA is refused while the bundle holds the OS CA alone, accepted once the
// bundle holds the second CA too (the config's acceptedCAs), and refused again when it
// is removed; all without restarting apid. The OS CA's clients stay accepted throughout.
func TestClientCABundleRotates(t *testing.T) {
	osCA, next := newTestCA(t, "kiln os ca"), newTestCA(t, "kiln os ca 2")
	bundle := filepath.Join(t.TempDir(), "ca.crt")
	write := func(pems ...string) {
		tmp := bundle + ".new"
		if err := os.WriteFile(tmp, []byte(strings.Join(pems, "")), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, bundle); err != nil {
			t.Fatal(err)
		}
	}
	write(osCA.PEM())
	_, backend := startEchoBackend(t)
	addr := startAPID(t, &Server{Certificate: osCA.server(t), ClientCAsFile: bundle, Backend: backend})
	oldAdmin, newAdmin := osCA.client(t, "admin", "os:admin"), next.client(t, "admin2", "os:admin")
	callAs := func(cert *tls.Certificate) error {
		return call(context.Background(), dial(t, addr, osCA.Pool, cert), machine.MachineService_Version_FullMethodName)
	}
	check := func(when string, wantNew bool) {
		t.Helper()
		if err := callAs(&oldAdmin); err != nil {
			t.Errorf("%s: OS CA client: %v", when, err)
		}
		err := callAs(&newAdmin)
		if wantNew && err != nil {
			t.Errorf("%s: second CA's client refused: %v", when, err)
		}
		if !wantNew && status.Code(err) != codes.Unavailable {
			t.Errorf("%s: second CA's client: %v, want a refused handshake (Unavailable)", when, err)
		}
	}
	check("before the bundle holds the second CA", false)
	write(osCA.PEM(), next.PEM())
	check("with the second CA in the bundle", true)
	write(osCA.PEM())
	check("after the second CA was removed", false)
	write("garbage")
	if err := callAs(&oldAdmin); status.Code(err) != codes.Unavailable {
		t.Errorf("unreadable bundle: %v, want every handshake refused", err)
	}
}

func TestParseBundleRefusesAnythingButCertificates(t *testing.T) {
	ca := newTestCA(t, "kiln os ca")
	for name, text := range map[string]string{
		"empty":        "",
		"a key":        "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n",
		"trailing":     ca.PEM() + "junk",
		"bad DER":      "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
		"cert and key": ca.PEM() + "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
	} {
		if _, err := parseBundle([]byte(text)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := parseBundle([]byte(ca.PEM() + newTestCA(t, "two").PEM())); err != nil {
		t.Errorf("two certificates: %v", err)
	}
}
