package apicert

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/kiln-os/kiln/api/security"
	"github.com/kiln-os/kiln/config"
	"github.com/kiln-os/kiln/initd/services"
)

// trustdJoinTimeout bounds one certificate request to the control plane.
const trustdJoinTimeout = 30 * time.Second

// trustdJoinPort is trustd's port on the control plane; tests point it elsewhere.
var trustdJoinPort = services.TrustdPort

// issueAPICert returns apid's certificate and key: signed here with the OS CA key for
// sans on a control plane node, or, on a worker (which holds only the CA certificate),
// by the control plane's trustd in exchange for the join token, for the address trustd
// sees the worker call from and nothing else (sans are not asked for: trustd would
// refuse them).
func issueAPICert(ctx context.Context, cfg *config.Config, hostname string, sans []string) (crt, key []byte, err error) {
	if cfg.Machine.CA.Key != "" {
		return config.IssueServerCert(config.CA{Crt: cfg.Machine.CA.Crt, Key: cfg.Machine.CA.Key}, hostname, sans, services.APICertTTL, time.Now())
	}
	return joinThroughTrustd(ctx, cfg, hostname)
}

// joinThroughTrustd sends a CSR that names nothing, with the join token, to trustd on
// the control plane endpoint's host, verifying trustd's certificate against the OS CA of
// the config. trustd certifies the address the request comes from.
func joinThroughTrustd(ctx context.Context, cfg *config.Config, hostname string) ([]byte, []byte, error) {
	endpoint, err := url.Parse(cfg.Cluster.ControlPlane.Endpoint)
	if err != nil || endpoint.Hostname() == "" {
		return nil, nil, fmt.Errorf("cluster.controlPlane.endpoint %q: no host to reach trustd on", cfg.Cluster.ControlPlane.Endpoint)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM([]byte(cfg.Machine.CA.Crt)) {
		return nil, nil, errors.New("machine.ca.crt: no certificate")
	}
	csr, key, err := newCSR(hostname)
	if err != nil {
		return nil, nil, err
	}
	addr := net.JoinHostPort(endpoint.Hostname(), trustdJoinPort)
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{
		RootCAs: roots, ServerName: endpoint.Hostname(), MinVersion: tls.VersionTLS13,
	})))
	if err != nil {
		return nil, nil, err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, trustdJoinTimeout)
	defer cancel()
	resp, err := security.NewSecurityServiceClient(conn).Certificate(ctx, &security.CertificateRequest{CsrPem: csr, Token: cfg.Machine.Token})
	if err != nil {
		return nil, nil, fmt.Errorf("trustd at %s: %w", addr, err)
	}
	return resp.GetCertificatePem(), key, nil
}

// newCSR makes a P-256 key and a certificate request without names (the common name,
// hostname, is for the logs: trustd does not copy it).
func newCSR(hostname string) (csrPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.CertificateRequest{Subject: pkix.Name{CommonName: hostname}}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		return nil, nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), nil
}
