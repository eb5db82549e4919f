package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"net"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/kiln-os/kiln/api/security"
	"github.com/kiln-os/kiln/client"
	"github.com/kiln-os/kiln/config"
)

// forgedNameRefused is issue 12, hole 1, against the booted node: a holder of the join
// token (read from the generated worker.yaml) asks the node's trustd, at trustdAddr, for
// a certificate naming the address kilnctl dials (c.node's host), the node's own
// address and a DNS name, and is refused each time. Then it asks for no name: trustd
// certifies the address it sees the request come from (QEMU's user network gateway). If
// it gets that certificate, a TLS server presenting it at an address of ours is refused
// by client.Dial, as kilnctl dials, for the node's address.
func forgedNameRefused(t *testing.T, c ctl, work, trustdAddr string) {
	t.Helper()
	worker, err := config.Load(filepath.Join(work, "worker.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	nodeHost, _, err := net.SplitHostPort(c.node)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM([]byte(worker.Machine.CA.Crt)) {
		t.Fatal("worker.yaml: machine.ca.crt holds no certificate")
	}
	conn, err := grpc.NewClient(trustdAddr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{
		RootCAs: roots, ServerName: nodeHost, MinVersion: tls.VersionTLS13,
	})))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	trustd := security.NewSecurityServiceClient(conn)
	ask := func(tmpl *x509.CertificateRequest) (*security.CertificateResponse, *ecdsa.PrivateKey, error) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.Subject = pkix.Name{CommonName: "mallory", Organization: []string{config.RoleAdmin}}
		der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		resp, err := trustd.Certificate(ctx, &security.CertificateRequest{
			CsrPem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), Token: worker.Machine.Token,
		})
		return resp, key, err
	}
	for name, tmpl := range map[string]*x509.CertificateRequest{
		"the address kilnctl dials": {IPAddresses: []net.IP{net.ParseIP(nodeHost)}},
		"the node's own address":    {IPAddresses: []net.IP{net.ParseIP("10.0.2.15")}},
		"a DNS name":                {DNSNames: []string{"localhost"}},
	} {
		if _, _, err := ask(tmpl); err == nil {
			t.Errorf("trustd signed a certificate for %s", name)
		} else {
			t.Logf("%s: refused: %v", name, err)
		}
	}

	resp, key, err := ask(&x509.CertificateRequest{})
	if err != nil {
		t.Logf("no certificate for the caller's own address either: %v (%s)", err, status.Code(err))
		return
	}
	block, _ := pem.Decode(resp.CertificatePem)
	if block == nil {
		t.Fatal("trustd answered with no PEM certificate")
	}
	issued, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("certificate for the caller's own address: IPs %v, DNS %v", issued.IPAddresses, issued.DNSNames)
	if err := dialFakeAPID(t, c, tls.Certificate{Certificate: [][]byte{block.Bytes}, PrivateKey: key}, nodeHost); err == nil {
		t.Error("client.Dial accepted a server presenting a join-token certificate for the node's address")
	} else {
		t.Logf("client.Dial refused the join-token certificate: %v", err)
	}
}

// dialFakeAPID serves TLS with cert on host (the address kilnctl dials the node at,
// loopback here), as a fake apid would, and dials it with kilnctl's admin context.
func dialFakeAPID(t *testing.T, c ctl, cert tls.Certificate, host string) error {
	t.Helper()
	lis, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	fake := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13})))
	go fake.Serve(lis)
	defer fake.Stop()
	kcfg, err := client.LoadConfig(c.config)
	if err != nil {
		t.Fatal(err)
	}
	kctx, _, err := kcfg.Current("e2e")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := client.Dial(context.Background(), client.DialOptions{Endpoint: lis.Addr().String(), Context: kctx, Timeout: 10 * time.Second})
	if err != nil {
		return err
	}
	return conn.Close()
}
