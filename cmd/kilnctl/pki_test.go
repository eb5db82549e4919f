package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"testing"
	"time"

	"github.com/kiln-os/kiln/internal/testpki"
)

// testCA is a throwaway certificate authority made for one test (internal/testpki).
type testCA struct{ *testpki.CA }

func newTestCA(t *testing.T) testCA { return testCA{testpki.NewCA(t, "test os ca")} }

func (ca testCA) pem() string { return ca.PEM() }

func (ca testCA) serverCert(t *testing.T) tls.Certificate { return ca.Server(t) }

// clientCert issues an "operator" certificate with role; notAfter in the past makes an
// expired one.
func (ca testCA) clientCert(t *testing.T, role string, notAfter time.Time) tls.Certificate {
	return ca.Client(t, "operator", notAfter, role)
}

// certPEM returns a tls.Certificate's leaf and key as PEM, as a kilnctl context holds them.
func certPEM(t *testing.T, c tls.Certificate) (crt, key string) {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	crt = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]}))
	key = string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	return crt, key
}
