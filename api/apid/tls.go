package apid

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"math/big"
	"time"
)

// tlsConfig is TLS 1.3 only. Normal mode requires a client certificate that chains to
// ClientCAs with ExtKeyUsage clientAuth (Go checks the usage), so a server certificate
// from trustd cannot call apid. With ClientCAsFile the pool is read at each handshake
// (see clientCAs). Maintenance mode asks for none.
func (s *Server) tlsConfig() *tls.Config {
	cfg := &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{s.Certificate},
		NextProtos:   []string{"h2"},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    s.ClientCAs,
	}
	switch {
	case s.Maintenance:
		cfg.ClientAuth = tls.NoClientCert
		cfg.ClientCAs = nil
	case s.ClientCAsFile != "":
		cfg.ClientCAs = nil
		cfg.GetConfigForClient = (&clientCAs{path: s.ClientCAsFile}).configFor(cfg.Clone())
	}
	return cfg
}

// maintenanceValidity is how long the maintenance certificate is valid. The node's clock
// may be wrong before a config sets up time sync, so it starts a day early.
const maintenanceValidity = 365 * 24 * time.Hour

// SelfSignedMaintenanceCert makes a fresh ECDSA P-256 server certificate for maintenance
// mode and returns it with its fingerprint: the SHA-256 of the DER certificate in lower-case
// hex without colons, for the console so an operator can compare it with what the client saw.
func SelfSignedMaintenanceCert(now time.Time) (tls.Certificate, string, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, "", err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, "", err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "kiln maintenance"},
		NotBefore:    now.Add(-24 * time.Hour),
		NotAfter:     now.Add(maintenanceValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, "", err
	}
	sum := sha256.Sum256(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, hex.EncodeToString(sum[:]), nil
}
