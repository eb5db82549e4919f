package trustd

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/kiln-os/kiln/api/security"
	"github.com/kiln-os/kiln/client"
)

// controlPlaneIP is the control plane's own address in these tests.
var controlPlaneIP = net.IPv4(10, 0, 0, 1)

func controlPlaneSigner(t *testing.T) *Signer {
	s := newSigner(t)
	s.OwnAddrs = func() ([]net.IP, error) { return []net.IP{controlPlaneIP}, nil }
	return s
}

// TestJoinTokenCannotNameAnotherNode is hole 1: a holder of the join token asks trustd
// for a certificate naming the control plane (its IP, a DNS name) or another node. Before
// names were bound to the caller, trustd signed whatever the CSR named, and the
// certificate verified as the control plane's server certificate for kilnctl.
func TestJoinTokenCannotNameAnotherNode(t *testing.T) {
	s := controlPlaneSigner(t)
	uri, _ := url.Parse("spiffe://kiln/controlplane")
	for name, tc := range map[string]struct {
		csr  x509.CertificateRequest
		want string // the name the refusal must mention
	}{
		"control plane IP":              {x509.CertificateRequest{IPAddresses: []net.IP{controlPlaneIP}}, "10.0.0.1"},
		"control plane IP beside own":   {x509.CertificateRequest{IPAddresses: []net.IP{workerIP, controlPlaneIP}}, "10.0.0.1"},
		"another node's IP":             {x509.CertificateRequest{IPAddresses: []net.IP{net.IPv4(10, 0, 0, 8)}}, "10.0.0.8"},
		"loopback":                      {x509.CertificateRequest{IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}, "127.0.0.1"},
		"DNS name":                      {x509.CertificateRequest{DNSNames: []string{"controlplane.example"}}, "controlplane.example"},
		"localhost":                     {x509.CertificateRequest{DNSNames: []string{"localhost"}, IPAddresses: []net.IP{workerIP}}, "localhost"},
		"URI":                           {x509.CertificateRequest{URIs: []*url.URL{uri}}, "spiffe://kiln/controlplane"},
		"email":                         {x509.CertificateRequest{EmailAddresses: []string{"admin@example.org"}}, "admin@example.org"},
		"own IP and control plane name": {x509.CertificateRequest{DNSNames: []string{"cp"}, IPAddresses: []net.IP{workerIP}}, `"cp"`},
	} {
		t.Run(name, func(t *testing.T) {
			resp, err := s.Certificate(from(workerAddr), &security.CertificateRequest{CsrPem: csrFor(t, newKey(t), &tc.csr), Token: s.Token})
			if err == nil {
				t.Fatalf("trustd signed %s; verifies for: %s", name, acceptedNames(t, s, resp, tc.want))
			}
			if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want InvalidArgument naming %s", err, tc.want)
			}
		})
	}
}

// acceptedNames says for which of the names a certificate verifies as a server.
func acceptedNames(t *testing.T, s *Signer, resp *security.CertificateResponse, names ...string) string {
	block, _ := pem.Decode(resp.CertificatePem)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(s.CA)
	var ok []string
	for _, name := range names {
		_, err := cert.Verify(x509.VerifyOptions{Roots: roots, DNSName: strings.Trim(name, `"`), CurrentTime: testNow.Add(time.Hour)})
		if err == nil {
			ok = append(ok, name)
		}
	}
	return strings.Join(ok, ", ")
}

// TestCallerAtControlPlaneAddressRefused: the address a request comes from is what gets
// certified, so a caller on the control plane itself (loopback, one of its own
// addresses) or at an address no node has gets nothing, whatever it asks for.
func TestCallerAtControlPlaneAddressRefused(t *testing.T) {
	s := controlPlaneSigner(t)
	for _, addr := range []string{"10.0.0.1:4000", "127.0.0.1:4000", "127.9.9.9:4000", "[::1]:4000", "[::ffff:127.0.0.1]:4000",
		"0.0.0.0:4000", "[::]:4000", "224.0.0.1:4000", "[ff02::1]:4000", "[::ffff:10.0.0.1]:4000"} {
		_, err := s.Certificate(from(addr), &security.CertificateRequest{CsrPem: newCSR(t, newKey(t)), Token: s.Token})
		if status.Code(err) != codes.PermissionDenied {
			t.Errorf("caller %s: %v, want PermissionDenied", addr, err)
		}
	}
	s.OwnAddrs = func() ([]net.IP, error) { return nil, errors.New("netlink down") }
	if _, err := s.Certificate(from(workerAddr), &security.CertificateRequest{CsrPem: newCSR(t, newKey(t)), Token: s.Token}); status.Code(err) != codes.Internal {
		t.Errorf("own addresses unknown: %v, want Internal (refused)", err)
	}
	if _, err := s.Certificate(context.Background(), &security.CertificateRequest{CsrPem: newCSR(t, newKey(t)), Token: s.Token}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("no peer address: %v, want PermissionDenied", err)
	}
}

// TestOwnAddressCertificateServesOnlyThatAddress: a worker that asks for its own
// address (or for no name) gets a certificate that verifies for that address, and
// client.Dial (kilnctl) refuses a server that presents it for any other address.
func TestOwnAddressCertificateServesOnlyThatAddress(t *testing.T) {
	s := controlPlaneSigner(t)
	s.Now = time.Now
	key := newKey(t)
	for _, csr := range [][]byte{newCSR(t, key), csrFor(t, key, &x509.CertificateRequest{IPAddresses: []net.IP{workerIP}})} {
		resp, err := s.Certificate(from(workerAddr), &security.CertificateRequest{CsrPem: csr, Token: s.Token})
		if err != nil {
			t.Fatalf("own address: %v", err)
		}
		block, _ := pem.Decode(resp.CertificatePem)
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		roots := x509.NewCertPool()
		roots.AddCert(s.CA)
		if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, DNSName: "10.0.0.7"}); err != nil {
			t.Errorf("certificate for the caller's address does not verify for it: %v", err)
		}
		issued := tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key}
		if err := dialFakeAPID(t, s, issued); err == nil || !strings.Contains(err.Error(), "127.0.0.1") {
			t.Errorf("client.Dial to a server with a certificate for 10.0.0.7, at 127.0.0.1: %v, want a refusal naming the address", err)
		}
	}
	// The check of the test itself: the same stand-in with the node's real certificate
	// is accepted, so the refusal above is about the name.
	if err := dialFakeAPID(t, s, serverCert(t, s)); err != nil {
		t.Errorf("client.Dial to the stand-in with a certificate for 127.0.0.1: %v", err)
	}
}

// dialFakeAPID serves TLS with cert on 127.0.0.1, as a fake apid would, and dials it the
// way kilnctl does.
func dialFakeAPID(t *testing.T, s *Signer, cert tls.Certificate) error {
	t.Helper()
	fake := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13})))
	addr := serve(t, func(ctx context.Context, lis net.Listener) error {
		go func() { <-ctx.Done(); fake.Stop() }()
		fake.Serve(lis)
		return nil
	})
	admin := clientCert(t, s)
	keyDER, err := x509.MarshalPKCS8PrivateKey(admin.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	kctx := &client.Context{
		CA:  string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.CA.Raw})),
		Crt: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: admin.Certificate[0]})),
		Key: string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})),
	}
	conn, err := client.Dial(context.Background(), client.DialOptions{Endpoint: addr, Context: kctx, Timeout: 5 * time.Second})
	if err != nil {
		return err
	}
	return conn.Close()
}

// peerAs makes every connection lis accepts report addr as its remote address, as if
// the caller were there: trustd certifies the address it sees.
func peerAs(lis net.Listener, addr string) net.Listener {
	tcp, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		panic(err)
	}
	return &fakePeerListener{Listener: lis, remote: tcp}
}

type fakePeerListener struct {
	net.Listener
	remote net.Addr
}

func (l *fakePeerListener) Accept() (net.Conn, error) {
	conn, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &fakePeerConn{Conn: conn, remote: l.remote}, nil
}

type fakePeerConn struct {
	net.Conn
	remote net.Addr
}

func (c *fakePeerConn) RemoteAddr() net.Addr { return c.remote }
