package pkcs7

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
)

// Errors returned by this package, wrapped with the detail at fault. Callers that have a
// sentinel of their own wrap these under it (Go allows two %w), so errors.Is finds both.
var (
	ErrKey         = errors.New("pkcs7: unusable signing key or certificate")
	ErrFormat      = errors.New("pkcs7: malformed SignedData")
	ErrUnsupported = errors.New("pkcs7: unsupported SignedData")
	ErrSignature   = errors.New("pkcs7: signature does not verify")
)

// CheckSigner makes sure signer holds the RSA key of cert, a parsed certificate: firmware
// verifies RSA signatures only, and a mismatched pair would sign what nothing accepts.
func CheckSigner(cert *x509.Certificate, signer crypto.Signer) error {
	if cert == nil || signer == nil {
		return fmt.Errorf("%w: certificate and signer are required", ErrKey)
	}
	if len(cert.Raw) == 0 || len(cert.RawIssuer) == 0 || cert.SerialNumber == nil {
		return fmt.Errorf("%w: certificate is not a parsed X.509 certificate (use x509.ParseCertificate)", ErrKey)
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return fmt.Errorf("%w: certificate %q has a %T key; firmware needs RSA", ErrKey, cert.Subject.CommonName, cert.PublicKey)
	}
	if !pub.Equal(signer.Public()) {
		return fmt.Errorf("%w: signer's public key is not the key of certificate %q", ErrKey, cert.Subject.CommonName)
	}
	return nil
}

// SignSHA256 signs the SHA-256 of data with signer (RSA PKCS#1 v1.5) and checks the
// signature against cert, so that a misbehaving signer (say an HSM that signs with another
// key or padding) fails here, not at boot. Call CheckSigner first.
func SignSHA256(cert *x509.Certificate, signer crypto.Signer, data []byte) ([]byte, error) {
	sum := sha256.Sum256(data)
	sig, err := signer.Sign(rand.Reader, sum[:], crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("sign with %q: %w", cert.Subject.CommonName, err)
	}
	if err := rsa.VerifyPKCS1v15(cert.PublicKey.(*rsa.PublicKey), crypto.SHA256, sum[:], sig); err != nil {
		return nil, fmt.Errorf("%w: the signature does not verify with certificate %q (not RSA PKCS#1 v1.5 SHA-256?): %w",
			ErrKey, cert.Subject.CommonName, err)
	}
	return sig, nil
}
