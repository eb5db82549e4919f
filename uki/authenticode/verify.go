package authenticode

import (
	"bytes"
	"crypto/x509"
	"fmt"

	"github.com/kiln-os/kiln/uki/pe"
)

// maxChainDepth bounds the certificates between the signer and a root.
const maxChainDepth = 8

// Verify checks the Authenticode signature of image: the image hash, the
// signature over it, and that the signer chains to one of roots (the
// certificates of a UEFI db). See the package doc for the rules.
func Verify(image []byte, roots []*x509.Certificate) error {
	sig, signer, err := verifiedSignature(image)
	if err != nil {
		return err
	}
	return checkTrust(signer, sig.certs, roots)
}

// Signer checks the image hash and the signature over it as Verify does, but not whom
// the signer chains to, and returns the signer's certificate. It is for a caller that
// knows the signer by another route (the fingerprint a build recorded) and holds no db
// certificate; the trust decision is then the caller's.
func Signer(image []byte) (*x509.Certificate, error) {
	_, signer, err := verifiedSignature(image)
	return signer, err
}

// verifiedSignature parses image's signature, checks the image hash and the signature
// over the signed attributes, and returns the signature and its signer's certificate.
func verifiedSignature(image []byte) (*signature, *x509.Certificate, error) {
	f, err := pe.Parse(image)
	if err != nil {
		return nil, nil, err
	}
	ct, err := locateCertTable(f, image)
	if err != nil {
		return nil, nil, err
	}
	if ct.size == 0 {
		return nil, nil, ErrNotSigned
	}
	blob, err := pkcs7Blob(image[ct.start:])
	if err != nil {
		return nil, nil, err
	}
	sig, err := parseSignature(blob)
	if err != nil {
		return nil, nil, err
	}
	if !bytes.Equal(sig.imageDigest, imageHash(f, image, ct)) {
		return nil, nil, ErrDigest
	}
	signer, err := sig.verifySigner()
	if err != nil {
		return nil, nil, err
	}
	return sig, signer, nil
}

// verifySigner checks the authenticated attributes and the signature over
// them, and returns the signer's certificate.
func (s *signature) verifySigner() (*x509.Certificate, error) {
	cert := s.certificate()
	if cert == nil {
		return nil, fmt.Errorf("%w: the signer's certificate is not in the signature", ErrSignature)
	}
	if err := s.signer.Verify(cert, oidSPCIndirectData, s.indirect); err != nil {
		return nil, pkcs7Error(err)
	}
	return cert, nil
}

// certificate finds the certificate the SignerInfo names by issuer and serial number.
func (s *signature) certificate() *x509.Certificate {
	for _, c := range s.certs {
		if s.signer.Names(c) {
			return c
		}
	}
	return nil
}

// checkTrust walks from the signer up through the certificates the
// signature carries until one is a root or is signed by one.
func checkTrust(signer *x509.Certificate, carried, roots []*x509.Certificate) error {
	if len(roots) == 0 {
		return fmt.Errorf("%w: no trusted certificates given", ErrUntrusted)
	}
	cert := signer
	for range maxChainDepth {
		if trustedBy(cert, roots) {
			return nil
		}
		if cert = issuerOf(cert, carried); cert == nil {
			break
		}
	}
	return fmt.Errorf("%w: %s (issued by %s) does not chain to the given certificates", ErrUntrusted, signer.Subject, signer.Issuer)
}

// trustedBy reports whether cert is one of roots or is signed by one.
func trustedBy(cert *x509.Certificate, roots []*x509.Certificate) bool {
	for _, r := range roots {
		if r == nil {
			continue
		}
		if cert.Equal(r) || (bytes.Equal(cert.RawIssuer, r.RawSubject) && cert.CheckSignatureFrom(r) == nil) {
			return true
		}
	}
	return false
}

// issuerOf returns the certificate among carried, other than cert, that
// signed cert, or nil.
func issuerOf(cert *x509.Certificate, carried []*x509.Certificate) *x509.Certificate {
	for _, c := range carried {
		if !c.Equal(cert) && bytes.Equal(cert.RawIssuer, c.RawSubject) && cert.CheckSignatureFrom(c) == nil {
			return c
		}
	}
	return nil
}
