package authenticode

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"slices"

	"github.com/kiln-os/kiln/uki/pe"
)

// maxChainDepth bounds the certificates between the signer and a root.
const maxChainDepth = 8

// Verify checks the Authenticode signature of image: the image hash, the
// signature over it, and that the signer chains to one of roots (the
// certificates of a UEFI db). See the package doc for the rules.
func Verify(image []byte, roots []*x509.Certificate) error {
	f, err := pe.Parse(image)
	if err != nil {
		return err
	}
	ct, err := locateCertTable(f, image)
	if err != nil {
		return err
	}
	if ct.size == 0 {
		return ErrNotSigned
	}
	blob, err := pkcs7Blob(image[ct.start:])
	if err != nil {
		return err
	}
	sig, err := parseSignature(blob)
	if err != nil {
		return err
	}
	if !bytes.Equal(sig.imageDigest, imageHash(f, image, ct)) {
		return ErrDigest
	}
	signer, err := sig.verifySigner()
	if err != nil {
		return err
	}
	return checkTrust(signer, sig.certs, roots)
}

// verifySigner checks the authenticated attributes and the signature over
// them, and returns the signer's certificate.
func (s *signature) verifySigner() (*x509.Certificate, error) {
	si := s.signer
	if !si.digestAlg.Equal(oidSHA256) {
		return nil, fmt.Errorf("%w: digest algorithm %v, want SHA-256", ErrUnsupported, si.digestAlg)
	}
	if !si.sigAlg.Equal(oidRSAEncryption) && !si.sigAlg.Equal(oidSHA256WithRSA) {
		return nil, fmt.Errorf("%w: signature algorithm %v, want RSA", ErrUnsupported, si.sigAlg)
	}
	if err := s.checkAttributes(); err != nil {
		return nil, err
	}
	cert := s.signerCertificate()
	if cert == nil {
		return nil, fmt.Errorf("%w: the signer's certificate is not in the signature", ErrSignature)
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%w: signer key is %T, want RSA", ErrUnsupported, cert.PublicKey)
	}
	// The signature is over the attributes encoded as a SET, not as [0].
	signed := slices.Clone(si.attrs.FullBytes)
	signed[0] = 0x31
	sum := sha256.Sum256(signed)
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], si.sig); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSignature, err)
	}
	return cert, nil
}

// checkAttributes checks that the authenticated attributes name the content
// type and carry the digest of the SpcIndirectDataContent.
func (s *signature) checkAttributes() error {
	attrs, err := parseAttributes(s.signer.attrs)
	if err != nil {
		return err
	}
	var contentType asn1.ObjectIdentifier
	if v, ok := attrs[oidContentType.String()]; !ok || unmarshal(v.FullBytes, &contentType, "contentType") != nil ||
		!contentType.Equal(oidSPCIndirectData) {
		return formatErr("contentType attribute missing or not SpcIndirectDataContent")
	}
	var digest []byte
	if v, ok := attrs[oidMessageDigest.String()]; !ok || unmarshal(v.FullBytes, &digest, "messageDigest") != nil {
		return formatErr("messageDigest attribute missing or malformed")
	}
	if want := sha256.Sum256(s.indirect); !bytes.Equal(digest, want[:]) {
		return fmt.Errorf("%w: messageDigest does not match the signed content", ErrSignature)
	}
	return nil
}

// signerCertificate finds the certificate named by the SignerInfo's issuer
// and serial number.
func (s *signature) signerCertificate() *x509.Certificate {
	for _, c := range s.certs {
		if bytes.Equal(c.RawIssuer, s.signer.issuer) && c.SerialNumber.Cmp(s.signer.serial) == 0 {
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
