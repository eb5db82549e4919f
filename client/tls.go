package client

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/kiln-os/kiln/api/rbac"
)

// ErrFingerprintMismatch is a server certificate whose SHA-256 differs from the pinned one.
var ErrFingerprintMismatch = errors.New("client: server certificate fingerprint does not match")

// CertValidityError is a client certificate used outside its validity period: checked
// before dialing, because a node's refusal would not say why.
type CertValidityError struct {
	NotBefore, NotAfter time.Time
	Now                 time.Time
}

func (e *CertValidityError) Error() string {
	if e.Now.Before(e.NotBefore) {
		return fmt.Sprintf("client certificate is valid only from %s: check this machine's clock",
			e.NotBefore.UTC().Format(time.RFC3339))
	}
	return fmt.Sprintf("client certificate expired on %s: generate a new one with kilnctl gen cert",
		e.NotAfter.UTC().Format(time.DateOnly))
}

// Fingerprint is the hex SHA-256 of a certificate's DER, as the node console prints it.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// normalizeFingerprint accepts upper case and colon-separated pairs as operators copy them.
func normalizeFingerprint(s string) string {
	return strings.ToLower(strings.ReplaceAll(s, ":", ""))
}

// mutualTLS is the config for a configured node: the context's client certificate, and a
// server certificate that chains to the context's CA and names host.
func mutualTLS(ctx *Context, host string, now time.Time) (*tls.Config, []rbac.Role, error) {
	pair, err := tls.X509KeyPair([]byte(ctx.Crt), []byte(ctx.Key))
	if err != nil {
		return nil, nil, fmt.Errorf("client certificate in the kilnctl config: %w: generate a new one with kilnctl gen cert", err)
	}
	leaf := pair.Leaf
	if now.After(leaf.NotAfter) || now.Before(leaf.NotBefore) {
		return nil, nil, &CertValidityError{NotBefore: leaf.NotBefore, NotAfter: leaf.NotAfter, Now: now}
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM([]byte(ctx.CA)) {
		return nil, nil, errors.New("the kilnctl config's ca holds no PEM certificate: regenerate the context with kilnctl gen config")
	}
	conf := &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{pair},
		RootCAs:      roots,
		ServerName:   host,
	}
	return conf, rbac.Roles(leaf), nil
}

// serverOnlyTLS is the config for a node in maintenance mode: no client certificate, and
// the server certificate is either pinned by fingerprint or reported through show, once.
func serverOnlyTLS(pin string, show func(string)) *tls.Config {
	var once sync.Once
	pin = normalizeFingerprint(pin)
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		// A node in maintenance mode has a self-signed certificate nobody can know in
		// advance; VerifyConnection pins or shows its fingerprint instead.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("server sent no certificate")
			}
			got := Fingerprint(cs.PeerCertificates[0].Raw)
			if pin != "" && got != pin {
				return fmt.Errorf("%w: got %s, want %s", ErrFingerprintMismatch, got, pin)
			}
			if pin == "" && show != nil {
				once.Do(func() { show(got) })
			}
			return nil
		},
	}
}
