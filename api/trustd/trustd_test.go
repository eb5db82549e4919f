package trustd

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/kiln-os/kiln/api/apid"
	"github.com/kiln-os/kiln/api/machine"
	"github.com/kiln-os/kiln/api/security"
)

var testNow = time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func newSigner(t *testing.T) *Signer {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kiln os ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: testNow.Add(10 * Validity), // covers now and testNow
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &Signer{CA: ca, CAKey: key, Token: "s3cret-join-token", Now: func() time.Time { return testNow }}
}

// newCSR asks for no name, with a common name and an Organization that trustd must drop.
func newCSR(t *testing.T, key *ecdsa.PrivateKey) []byte {
	return csrFor(t, key, &x509.CertificateRequest{})
}

// csrFor is a CSR from key with the names in tmpl, plus a common name and an Organization
// that trustd must drop.
func csrFor(t *testing.T, key *ecdsa.PrivateKey, tmpl *x509.CertificateRequest) []byte {
	t.Helper()
	tmpl.Subject = pkix.Name{CommonName: "node-1", Organization: []string{"os:admin"}}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

// workerAddr is where the joining node of these tests calls from.
const workerAddr = "10.0.0.7:40123"

var workerIP = net.IPv4(10, 0, 0, 7)

func TestWrongTokenDenied(t *testing.T) {
	s := newSigner(t)
	csr := newCSR(t, newKey(t))
	for _, token := range []string{"", "s3cret-join-toke", "s3cret-join-token ", "S3cret-join-token"} {
		_, err := s.Certificate(context.Background(), &security.CertificateRequest{CsrPem: csr, Token: token})
		if status.Code(err) != codes.PermissionDenied {
			t.Errorf("token %q: %v, want PermissionDenied", token, err)
		}
	}
	s.Token = ""
	if _, err := s.Certificate(context.Background(), &security.CertificateRequest{CsrPem: csr}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("signer without a token accepted an empty one: %v", err)
	}
}

func TestBadCSRRejected(t *testing.T) {
	s := newSigner(t)
	csr := newCSR(t, newKey(t))
	block, _ := pem.Decode(csr)
	block.Bytes[len(block.Bytes)-3] ^= 0xff // inside the signature
	tampered := pem.EncodeToMemory(block)
	for name, data := range map[string][]byte{"tampered": tampered, "not PEM": []byte("hello"), "a certificate": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.CA.Raw})} {
		_, err := s.Certificate(from(workerAddr), &security.CertificateRequest{CsrPem: data, Token: s.Token})
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s: %v, want InvalidArgument", name, err)
		}
	}
}

func issue(t *testing.T, s *Signer, key *ecdsa.PrivateKey) *x509.Certificate {
	t.Helper()
	csr := csrFor(t, key, &x509.CertificateRequest{IPAddresses: []net.IP{workerIP}})
	resp, err := s.Certificate(from(workerAddr), &security.CertificateRequest{CsrPem: csr, Token: s.Token})
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(resp.CertificatePem)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if caBlock, _ := pem.Decode(resp.CaPem); caBlock == nil || string(caBlock.Bytes) != string(s.CA.Raw) {
		t.Error("ca_pem is not the signing CA")
	}
	return cert
}

func TestIssuedCertificateIsServerOnlyWithoutRoles(t *testing.T) {
	s := newSigner(t)
	cert := issue(t, s, newKey(t))
	if len(cert.Subject.Organization) != 0 {
		t.Errorf("Organization %v copied from the CSR: it would grant API roles", cert.Subject.Organization)
	}
	if len(cert.ExtKeyUsage) != 1 || cert.ExtKeyUsage[0] != x509.ExtKeyUsageServerAuth {
		t.Errorf("ExtKeyUsage %v, want serverAuth only", cert.ExtKeyUsage)
	}
	if cert.Subject.CommonName != "10.0.0.7" || len(cert.DNSNames) != 0 || len(cert.URIs) != 0 || len(cert.EmailAddresses) != 0 ||
		len(cert.IPAddresses) != 1 || !cert.IPAddresses[0].Equal(workerIP) {
		t.Errorf("names CN=%q DNS=%v IP=%v URI=%v email=%v, want the caller's address alone", cert.Subject.CommonName,
			cert.DNSNames, cert.IPAddresses, cert.URIs, cert.EmailAddresses)
	}
	if !cert.NotBefore.Equal(testNow) || !cert.NotAfter.Equal(testNow.Add(Validity)) || cert.IsCA {
		t.Errorf("validity %v..%v (CA %v), want a one-year leaf from %v", cert.NotBefore, cert.NotAfter, cert.IsCA, testNow)
	}
	roots := x509.NewCertPool()
	roots.AddCert(s.CA)
	verify := func(usage x509.ExtKeyUsage) error {
		_, err := cert.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: testNow.Add(time.Hour), KeyUsages: []x509.ExtKeyUsage{usage}})
		return err
	}
	if err := verify(x509.ExtKeyUsageServerAuth); err != nil {
		t.Errorf("issued certificate does not verify as a server: %v", err)
	}
	if err := verify(x509.ExtKeyUsageClientAuth); err == nil {
		t.Error("issued certificate verifies as a client")
	}
}

// TestIssuedCertificateCannotCallAPID presents a trustd certificate to a real apid that
// trusts the same CA: the handshake must refuse it, while a client certificate from that
// CA gets through.
func TestIssuedCertificateCannotCallAPID(t *testing.T) {
	s := newSigner(t)
	s.Now = time.Now
	roots := x509.NewCertPool()
	roots.AddCert(s.CA)
	key := newKey(t)
	issued := tls.Certificate{Certificate: [][]byte{issue(t, s, key).Raw}, PrivateKey: key}

	addr := startAPID(t, s, roots)
	if err := callVersion(addr, roots, issued); status.Code(err) != codes.Unavailable {
		t.Errorf("apid call with a trustd certificate: %v, want a refused handshake (Unavailable)", err)
	}
	if err := callVersion(addr, roots, clientCert(t, s)); err != nil {
		t.Errorf("apid call with a client certificate from the same CA: %v", err)
	}
}

func clientCert(t *testing.T, s *Signer) tls.Certificate {
	key := newKey(t)
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: big.NewInt(77), Subject: pkix.Name{CommonName: "admin", Organization: []string{"os:admin"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, s.CA, &key.PublicKey, s.CAKey)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func serverCert(t *testing.T, s *Signer) tls.Certificate {
	key := newKey(t)
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: big.NewInt(78), Subject: pkix.Name{CommonName: "node"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:   time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, s.CA, &key.PublicKey, s.CAKey)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// startAPID runs apid in front of a machined stand-in that answers every call.
func startAPID(t *testing.T, s *Signer, roots *x509.CertPool) string {
	t.Helper()
	socket := filepath.Join(t.TempDir(), "machined.sock")
	backendLis, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	backend := grpc.NewServer(grpc.UnknownServiceHandler(func(_ any, stream grpc.ServerStream) error {
		if err := stream.RecvMsg(&emptypb.Empty{}); err != nil {
			return err
		}
		return stream.SendMsg(&emptypb.Empty{})
	}))
	go backend.Serve(backendLis)
	t.Cleanup(backend.Stop)
	conn, err := apid.DialMachined(socket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return serve(t, func(ctx context.Context, lis net.Listener) error {
		srv := &apid.Server{Certificate: serverCert(t, s), ClientCAs: roots, Backend: conn, Log: logrus.New()}
		return srv.Serve(ctx, lis)
	})
}

// serve runs a server on a loopback port until the test ends.
func serve(t *testing.T, run func(context.Context, net.Listener) error) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, lis) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return lis.Addr().String()
}

func dial(t *testing.T, addr string, cfg *tls.Config) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func callVersion(addr string, roots *x509.CertPool, cert tls.Certificate) error {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{
		RootCAs: roots, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13,
	})))
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = machine.NewMachineServiceClient(conn).Version(ctx, &machine.VersionRequest{})
	return err
}

func TestServeOverTLSWithoutClientCertificate(t *testing.T) {
	s := newSigner(t)
	s.Now = time.Now
	roots := x509.NewCertPool()
	roots.AddCert(s.CA)
	srv := &Server{Certificate: serverCert(t, s), Signer: s, Log: logrus.New()}
	addr := serve(t, func(ctx context.Context, lis net.Listener) error { return srv.Serve(ctx, peerAs(lis, workerAddr)) })
	client := security.NewSecurityServiceClient(dial(t, addr, &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS13}))
	resp, err := client.Certificate(context.Background(), &security.CertificateRequest{CsrPem: newCSR(t, newKey(t)), Token: s.Token})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.CertificatePem) == 0 {
		t.Error("empty certificate")
	}
	_, err = client.Certificate(context.Background(), &security.CertificateRequest{CsrPem: newCSR(t, newKey(t)), Token: "guess"})
	if status.Code(err) != codes.PermissionDenied {
		t.Errorf("wrong token over TLS: %v, want PermissionDenied", err)
	}
}

func FuzzParseCSR(f *testing.F) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "n"}}, key)
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
	f.Add([]byte("-----BEGIN CERTIFICATE REQUEST-----\n-----END CERTIFICATE REQUEST-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		csr, err := ParseCSR(data)
		if err != nil {
			return
		}
		if csr.CheckSignature() != nil {
			t.Fatal("ParseCSR accepted a CSR whose signature does not check")
		}
	})
}

// TestTokenFileChangeTakesEffectAtOnce is join-token rotation: machined rewrites the
// token file when apply-config changes the token, and from the next request on the old
// token is refused and the new one accepted, with no restart.
func TestTokenFileChangeTakesEffectAtOnce(t *testing.T) {
	s := newSigner(t)
	s.Token = ""
	s.TokenFile = filepath.Join(t.TempDir(), "token")
	write := func(token string) {
		tmp := s.TokenFile + ".new"
		if err := os.WriteFile(tmp, []byte(token+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, s.TokenFile); err != nil {
			t.Fatal(err)
		}
	}
	ask := func(token string) error {
		_, err := s.Certificate(from(workerAddr), &security.CertificateRequest{CsrPem: newCSR(t, newKey(t)), Token: token})
		return err
	}
	write("abcdef.0123456789abcdef")
	if err := ask("abcdef.0123456789abcdef"); err != nil {
		t.Fatalf("token in force: %v", err)
	}
	write("ghijkl.0123456789abcdef")
	if err := ask("abcdef.0123456789abcdef"); status.Code(err) != codes.PermissionDenied {
		t.Errorf("old token after the change: %v, want PermissionDenied", err)
	}
	if err := ask("ghijkl.0123456789abcdef"); err != nil {
		t.Errorf("new token after the change: %v", err)
	}
	write("")
	if err := ask(""); status.Code(err) != codes.PermissionDenied {
		t.Errorf("empty token file, empty token: %v, want PermissionDenied", err)
	}
	os.Remove(s.TokenFile)
	if err := ask("ghijkl.0123456789abcdef"); status.Code(err) != codes.Internal {
		t.Errorf("token file gone: %v, want Internal (refused)", err)
	}
}
