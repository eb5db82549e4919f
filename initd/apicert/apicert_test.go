package apicert

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus/hooks/test"
	"google.golang.org/grpc/peer"

	"github.com/kiln-os/kiln/api/security"

	"github.com/kiln-os/kiln/api/trustd"
	"github.com/kiln-os/kiln/config"
	"github.com/kiln-os/kiln/initd/events"
	"github.com/kiln-os/kiln/initd/resources"
	"github.com/kiln-os/kiln/initd/resources/controller"
	"github.com/kiln-os/kiln/initd/resources/resourcetest"
	"github.com/kiln-os/kiln/initd/services"
	"github.com/kiln-os/kiln/internal/testpki"
)

func TestAPICertControllerFollowsAddresses(t *testing.T) {
	log, _ := test.NewNullLogger()
	store := resources.New(resources.Config{})
	c := &Controller{Log: log, APID: services.User{UID: os.Getuid(), GID: os.Getgid(), Dir: t.TempDir()},
		Trustd: services.User{UID: os.Getuid(), GID: os.Getgid(), Dir: t.TempDir()}}
	r := controller.NewRuntime(store, c)
	ctx := context.Background()
	if err := c.Reconcile(ctx, r); err != nil {
		t.Fatalf("without a config: %v", err)
	}
	if _, err := store.Get(resources.NamespaceSecrets, resources.TypeAPICertificate, resources.APICertificateID); err == nil {
		t.Fatal("a certificate without a config")
	}
	resourcetest.Set(t, store, resources.NamespaceConfig, resources.TypeMachineConfig, resources.MachineConfigID, &resources.MachineConfigSpec{Config: testpki.ControlPlaneConfig(t), SHA256: "x"})
	resourcetest.Set(t, store, resources.NamespaceNetwork, resources.TypeAddressStatus, "eth0_10.0.2.15_24", &resources.AddressStatusSpec{Link: "eth0", Address: "10.0.2.15/24"})
	resourcetest.Set(t, store, resources.NamespaceNetwork, resources.TypeHostnameStatus, resources.HostnameStatusID, &resources.HostnameStatusSpec{Hostname: "node7"})
	if err := c.Reconcile(ctx, r); err != nil {
		t.Fatal(err)
	}
	first, err := store.Get(resources.NamespaceSecrets, resources.TypeAPICertificate, resources.APICertificateID)
	if err != nil {
		t.Fatal(err)
	}
	spec := first.Spec.(*resources.APICertificateSpec)
	if ips := spec.IPAddresses; !strings.Contains(strings.Join(ips, ","), "10.0.2.15") {
		t.Errorf("certificate IPs %v lack the node's address", ips)
	}
	if !strings.Contains(strings.Join(spec.DNSNames, ","), "node7") {
		t.Errorf("certificate names %v lack the hostname from HostnameStatus", spec.DNSNames)
	}
	key, err := os.ReadFile(filepath.Join(c.APID.Dir, "server.key"))
	if err != nil || !strings.Contains(string(key), "PRIVATE KEY") {
		t.Fatalf("server key not written: %v", err)
	}
	if _, err := os.Stat(filepath.Join(c.APID.Dir, "ca.key")); err == nil {
		t.Error("apid's directory holds the CA key")
	}
	if _, err := os.Stat(filepath.Join(c.Trustd.Dir, "ca.key")); err != nil {
		t.Errorf("trustd's directory lacks the CA key: %v", err)
	}
	if fi, _ := os.Stat(filepath.Join(c.APID.Dir, "server.key")); fi.Mode().Perm() != 0o600 {
		t.Errorf("server.key mode %v", fi.Mode().Perm())
	}
	if err := c.Reconcile(ctx, r); err != nil {
		t.Fatal(err)
	}
	if again, _ := store.Get(resources.NamespaceSecrets, resources.TypeAPICertificate, resources.APICertificateID); again.Version != first.Version {
		t.Errorf("unchanged inputs re-issued the certificate (version %d → %d)", first.Version, again.Version)
	}
	resourcetest.Set(t, store, resources.NamespaceNetwork, resources.TypeAddressStatus, "eth0_10.0.2.16_24", &resources.AddressStatusSpec{Link: "eth0", Address: "10.0.2.16/24"})
	if err := c.Reconcile(ctx, r); err != nil {
		t.Fatal(err)
	}
	renewed, _ := store.Get(resources.NamespaceSecrets, resources.TypeAPICertificate, resources.APICertificateID)
	if renewed.Version == first.Version || !strings.Contains(strings.Join(renewed.Spec.(*resources.APICertificateSpec).IPAddresses, ","), "10.0.2.16") {
		t.Errorf("a new address did not re-issue the certificate: %+v", renewed.Spec)
	}
}

// A worker has no CA key: it gets its certificate from the control plane's trustd with
// the join token, and a wrong token gets nothing.
func TestWorkerJoinsThroughTrustd(t *testing.T) {
	worker := joinFixture(t)
	crt, key, err := issueAPICert(context.Background(), worker, "worker1", []string{"10.0.2.16", "worker1", "127.0.0.1"})
	if err != nil {
		t.Fatalf("join: %v", err)
	}
	spec, err := certSpec(crt)
	if err != nil || len(key) == 0 || strings.Join(spec.IPAddresses, ",") != "10.0.2.16" || len(spec.DNSNames) != 0 {
		t.Fatalf("issued %+v, %v; want the address trustd saw (10.0.2.16) alone", spec, err)
	}
	worker.Machine.Token = "aaaaaa.bbbbbbbbbbbbbbbb"
	if _, _, err := issueAPICert(context.Background(), worker, "worker1", nil); err == nil || !strings.Contains(err.Error(), "trustd") {
		t.Errorf("wrong token: %v", err)
	}
}

// A worker's join is reported as an event once per outcome: a wrong token is named once,
// however often the controller retries, and the join that follows is reported done.
func TestWorkerJoinEvents(t *testing.T) {
	worker := joinFixture(t)
	var got []events.Event
	log, _ := test.NewNullLogger()
	c := &Controller{Log: log, Emit: func(e events.Event) { got = append(got, e) },
		APID: services.User{UID: os.Getuid(), GID: os.Getgid(), Dir: t.TempDir()}, Trustd: services.User{UID: os.Getuid(), GID: os.Getgid(), Dir: t.TempDir()}}
	good := worker.Machine.Token
	worker.Machine.Token = "aaaaaa.bbbbbbbbbbbbbbbb"
	for range 3 {
		if _, err := c.issue(context.Background(), worker, "worker1", nil); err == nil {
			t.Fatal("a wrong token joined")
		}
	}
	worker.Machine.Token = good
	if _, err := c.issue(context.Background(), worker, "worker1", nil); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Name != "join" || got[0].State != events.StateFailed || !strings.Contains(got[0].Error, "PermissionDenied") ||
		got[1].State != events.StateDone || got[1].Fields["endpoint"] != "https://127.0.0.1:6443" {
		t.Errorf("events %+v, want one failed join naming the refusal, then one done", got)
	}
}

// joinFixture generates a cluster's configs, serves its control plane's trustd (startTrustd)
// and returns the worker's config.
func joinFixture(t *testing.T) *config.Config {
	t.Helper()
	secrets, err := config.GenerateSecrets(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cp, worker, err := config.Generate(config.GenerateInput{Secrets: secrets, Endpoint: "https://127.0.0.1:6443"})
	if err != nil {
		t.Fatal(err)
	}
	startTrustd(t, cp)
	return worker
}

// startTrustd serves trustd for the control plane config cp on a free local port, where
// every caller appears to come from 10.0.2.16 (trustd refuses to certify loopback).
func startTrustd(t *testing.T, cp *config.Config) {
	t.Helper()
	caBlock, _ := pem.Decode([]byte(cp.Machine.CA.Crt))
	ca, err := x509.ParseCertificate(caBlock.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	keyBlock, _ := pem.Decode([]byte(cp.Machine.CA.Key))
	caKey, err := parseKey(keyBlock.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	crt, key, err := config.IssueServerCert(cp.Machine.CA, "cp", []string{"127.0.0.1"}, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	serverCert, err := tls.X509KeyPair(crt, key)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	old := trustdJoinPort
	_, trustdJoinPort, _ = net.SplitHostPort(l.Addr().String())
	log, _ := test.NewNullLogger()
	srv := &trustd.Server{Certificate: serverCert, Log: log, Signer: &trustd.Signer{CA: ca, CAKey: caKey, Token: cp.Machine.Token, Now: time.Now}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Serve(ctx, fakePeerListener{l}); close(done) }()
	t.Cleanup(func() { cancel(); <-done; trustdJoinPort = old })
}

func parseKey(der []byte) (crypto.Signer, error) {
	if k, err := x509.ParseECPrivateKey(der); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, err
	}
	return k.(crypto.Signer), nil
}

// fakePeerListener's connections report 10.0.2.16 as their remote address.
type fakePeerListener struct{ net.Listener }

func (l fakePeerListener) Accept() (net.Conn, error) {
	conn, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return fakePeerConn{conn}, nil
}

type fakePeerConn struct{ net.Conn }

func (fakePeerConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(10, 0, 2, 16), Port: 40000}
}

// TestTrustFollowsConfig is rotation (issue 12, hole 10): a config that changes the join
// token and adds an accepted client CA rewrites trustd's token and apid's CA bundle at
// once, without re-issuing the certificate; a trustd reading the token file then refuses
// the old token and accepts the new one.
func TestTrustFollowsConfig(t *testing.T) {
	log, _ := test.NewNullLogger()
	store := resources.New(resources.Config{})
	c := &Controller{Log: log, APID: services.User{UID: os.Getuid(), GID: os.Getgid(), Dir: t.TempDir()},
		Trustd: services.User{UID: os.Getuid(), GID: os.Getgid(), Dir: t.TempDir()}}
	r := controller.NewRuntime(store, c)
	ctx := context.Background()
	cfg := testpki.ControlPlaneConfig(t)
	oldToken := cfg.Machine.Token
	resourcetest.Set(t, store, resources.NamespaceConfig, resources.TypeMachineConfig, resources.MachineConfigID, &resources.MachineConfigSpec{Config: cfg, SHA256: "1"})
	resourcetest.Set(t, store, resources.NamespaceNetwork, resources.TypeAddressStatus, "eth0_10.0.2.15_24", &resources.AddressStatusSpec{Link: "eth0", Address: "10.0.2.15/24"})
	if err := c.Reconcile(ctx, r); err != nil {
		t.Fatal(err)
	}
	first, _ := store.Get(resources.NamespaceSecrets, resources.TypeAPICertificate, resources.APICertificateID)
	if got := readFile(t, c.Trustd.Path("token")); got != oldToken {
		t.Fatalf("trustd's token %q, want the config's", got)
	}
	if got := readFile(t, c.APID.Path("ca.crt")); strings.TrimSpace(got) != strings.TrimSpace(cfg.Machine.CA.Crt) {
		t.Fatalf("apid's CA bundle %q, want the OS CA alone", got)
	}
	signer := startTrustdOn(t, cfg, c.Trustd.Path("token"))

	next := testpki.ControlPlaneConfig(t) // another CA and token
	changed := *cfg
	changed.Machine.Token = next.Machine.Token
	changed.Machine.AcceptedCAs = []config.AcceptedCA{{Crt: next.Machine.CA.Crt}}
	resourcetest.Set(t, store, resources.NamespaceConfig, resources.TypeMachineConfig, resources.MachineConfigID, &resources.MachineConfigSpec{Config: &changed, SHA256: "2"})
	if err := c.Reconcile(ctx, r); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, c.Trustd.Path("token")); got != next.Machine.Token {
		t.Errorf("trustd's token %q after the change, want the new one", got)
	}
	bundle := readFile(t, c.APID.Path("ca.crt"))
	if !strings.Contains(bundle, strings.TrimSpace(cfg.Machine.CA.Crt)) || !strings.Contains(bundle, strings.TrimSpace(next.Machine.CA.Crt)) {
		t.Errorf("apid's CA bundle after the change lacks the OS CA or the accepted CA:\n%s", bundle)
	}
	if again, _ := store.Get(resources.NamespaceSecrets, resources.TypeAPICertificate, resources.APICertificateID); again.Version != first.Version {
		t.Error("a trust change re-issued the certificate (and would restart apid and trustd)")
	}
	if err := signer(oldToken); err == nil {
		t.Error("trustd accepted the old token after the change")
	}
	if err := signer(next.Machine.Token); err != nil {
		t.Errorf("trustd refused the new token: %v", err)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// startTrustdOn is a trustd Signer for cp's CA that reads its token from tokenFile, as
// Main runs it; the returned function asks it for a certificate with a token.
func startTrustdOn(t *testing.T, cp *config.Config, tokenFile string) func(token string) error {
	t.Helper()
	caBlock, _ := pem.Decode([]byte(cp.Machine.CA.Crt))
	ca, err := x509.ParseCertificate(caBlock.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	keyBlock, _ := pem.Decode([]byte(cp.Machine.CA.Key))
	caKey, err := parseKey(keyBlock.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	s := &trustd.Signer{CA: ca, CAKey: caKey, TokenFile: tokenFile, Now: time.Now}
	csr, _, err := newCSR("worker")
	if err != nil {
		t.Fatal(err)
	}
	from := peer.NewContext(context.Background(), &peer.Peer{Addr: &net.TCPAddr{IP: net.IPv4(10, 0, 2, 16), Port: 40000}})
	return func(token string) error {
		_, err := s.Certificate(from, &security.CertificateRequest{CsrPem: csr, Token: token})
		return err
	}
}
