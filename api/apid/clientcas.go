package apid

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"sync"
)

// clientCAs is the pool client certificates must chain to, read from a PEM bundle (the
// OS CA and machine.acceptedCAs, as machined writes it) at each handshake. A CA that
// apply-config adds is accepted, and one it removes refused, from the next connection
// on, with no restart; connections already open keep the identity they proved. The
// bundle is parsed again only when its bytes changed. A bundle that cannot be read or
// holds anything but certificates refuses the handshake: apid never falls back to a pool
// the config no longer names.
type clientCAs struct {
	path string

	mu   sync.Mutex
	last []byte
	pool *x509.CertPool
}

// current is the pool for one handshake.
func (c *clientCAs) current() (*x509.CertPool, error) {
	data, err := os.ReadFile(c.path)
	if err != nil {
		return nil, fmt.Errorf("client CA bundle: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pool != nil && bytes.Equal(data, c.last) {
		return c.pool, nil
	}
	pool, err := parseBundle(data)
	if err != nil {
		return nil, fmt.Errorf("client CA bundle %s: %w", c.path, err)
	}
	c.last, c.pool = data, pool
	return pool, nil
}

// configFor gives base the current pool, for tls.Config.GetConfigForClient.
func (c *clientCAs) configFor(base *tls.Config) func(*tls.ClientHelloInfo) (*tls.Config, error) {
	return func(*tls.ClientHelloInfo) (*tls.Config, error) {
		pool, err := c.current()
		if err != nil {
			return nil, err
		}
		cfg := base.Clone()
		cfg.GetConfigForClient = nil
		cfg.ClientCAs = pool
		return cfg, nil
	}
}

// parseBundle reads PEM CERTIFICATE blocks, at least one, and nothing else.
func parseBundle(data []byte) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	n := 0
	for rest := data; ; n++ {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			if len(bytes.TrimSpace(rest)) > 0 {
				return nil, fmt.Errorf("text after certificate %d is not PEM", n)
			}
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("block %d is %q, want CERTIFICATE", n, block.Type)
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", n, err)
		}
		pool.AddCert(cert)
	}
	if n == 0 {
		return nil, fmt.Errorf("holds no PEM certificate: give the cluster OS CA certificate")
	}
	return pool, nil
}
