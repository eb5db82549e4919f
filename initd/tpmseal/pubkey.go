package tpmseal

import (
	"bytes"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"fmt"

	"github.com/kiln-os/kiln/measure/pcr"
)

// Bounds of the PCR key: systemd-measure needs RSA, 2048 bits is the least worth trusting,
// and 4096 is the most measure/pcr loads.
const (
	minKeyBits   = 2048
	maxKeyBits   = 4096
	maxPublicPEM = 16 << 10
)

// ParsePublicKeyPEM parses the .pcrpkey systemd-stub hands to the initrd as
// /.extra/tpm2-pcr-public-key.pem: exactly one PEM "PUBLIC KEY" block (DER
// SubjectPublicKeyInfo) holding an RSA key of 2048 to 4096 bits, and nothing else but
// white space.
func ParsePublicKeyPEM(data []byte) (*rsa.PublicKey, error) {
	if len(data) > maxPublicPEM {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrPublicKey, len(data), maxPublicPEM)
	}
	block, rest := pem.Decode(data)
	if block == nil || block.Type != "PUBLIC KEY" || len(block.Headers) != 0 {
		return nil, fmt.Errorf("%w: want one PEM block of type PUBLIC KEY without headers", ErrPublicKey)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, fmt.Errorf("%w: data after the PEM block", ErrPublicKey)
	}
	key, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPublicKey, err)
	}
	pub, ok := key.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%w: %T, want RSA (systemd signs PCR policies with RSA)", ErrPublicKey, key)
	}
	if bits := pub.N.BitLen(); bits < minKeyBits || bits > maxKeyBits {
		return nil, fmt.Errorf("%w: %d-bit RSA, want %d to %d bits", ErrPublicKey, bits, minKeyBits, maxKeyBits)
	}
	if _, err := pcr.RSAPublicName(pub); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPublicKey, err)
	}
	return pub, nil
}

// keyFingerprint returns systemd's "pkfp" of pub: SHA-256 of the PKCS#1 RSAPublicKey DER
// (i2d_PublicKey), not of the SubjectPublicKeyInfo in the PEM.
func keyFingerprint(pub *rsa.PublicKey) []byte {
	sum := sha256.Sum256(x509.MarshalPKCS1PublicKey(pub))
	return sum[:]
}
