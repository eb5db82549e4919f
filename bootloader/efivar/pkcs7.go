package efivar

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
)

// ErrPKCS7 is returned for a PKCS#7 SignedData this package cannot build or parse.
var ErrPKCS7 = errors.New("efivar: PKCS#7")

// ErrSignature is returned when a signature does not verify.
var ErrSignature = errors.New("efivar: signature does not verify")

var (
	oidData          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidSignedData    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidSHA256        = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidRSAEncryption = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
)

// The ASN.1 of RFC 2315 (PKCS #7 v1.5), as much of it as Kiln writes and reads.

type algorithmIdentifier struct {
	Algorithm  asn1.ObjectIdentifier
	Parameters asn1.RawValue `asn1:"optional"`
}

type contentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue `asn1:"explicit,optional,tag:0"`
}

type issuerAndSerialNumber struct {
	Issuer       asn1.RawValue
	SerialNumber *big.Int
}

type signerInfo struct {
	Version                   int
	IssuerAndSerialNumber     issuerAndSerialNumber
	DigestAlgorithm           algorithmIdentifier
	AuthenticatedAttributes   asn1.RawValue `asn1:"optional,tag:0"`
	DigestEncryptionAlgorithm algorithmIdentifier
	EncryptedDigest           []byte
	UnauthenticatedAttributes asn1.RawValue `asn1:"optional,tag:1"`
}

type signedData struct {
	Version          int
	DigestAlgorithms []algorithmIdentifier `asn1:"set"`
	ContentInfo      contentInfo
	Certificates     asn1.RawValue `asn1:"optional,tag:0"`
	CRLs             asn1.RawValue `asn1:"optional,tag:1"`
	SignerInfos      []signerInfo  `asn1:"set"`
}

var (
	sha256Algorithm = algorithmIdentifier{Algorithm: oidSHA256, Parameters: asn1.NullRawValue}
	rsaAlgorithm    = algorithmIdentifier{Algorithm: oidRSAEncryption, Parameters: asn1.NullRawValue}
)

// signDetached returns the DER of a PKCS#7 SignedData (without a ContentInfo
// wrapper) over content: SHA-256, RSA PKCS#1 v1.5, no signed attributes,
// content detached, cert embedded. The same inputs give the same bytes.
func signDetached(content []byte, cert *x509.Certificate, signer crypto.Signer) ([]byte, error) {
	if err := checkSigner(cert, signer); err != nil {
		return nil, err
	}
	digest := sha256.Sum256(content)
	sig, err := signer.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("sign with %q: %w", cert.Subject.CommonName, err)
	}
	sd := signedData{
		Version:          1,
		DigestAlgorithms: []algorithmIdentifier{sha256Algorithm},
		ContentInfo:      contentInfo{ContentType: oidData},
		Certificates:     asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: cert.Raw},
		SignerInfos: []signerInfo{{
			Version: 1,
			IssuerAndSerialNumber: issuerAndSerialNumber{
				Issuer:       asn1.RawValue{FullBytes: cert.RawIssuer},
				SerialNumber: cert.SerialNumber,
			},
			DigestAlgorithm:           sha256Algorithm,
			DigestEncryptionAlgorithm: rsaAlgorithm,
			EncryptedDigest:           sig,
		}},
	}
	der, err := asn1.Marshal(sd)
	if err != nil {
		return nil, fmt.Errorf("%w: encode SignedData: %v", ErrPKCS7, err)
	}
	return der, nil
}

// checkSigner makes sure signer holds the RSA key of cert: firmware verifies
// RSA signatures only, and a mismatched pair would sign what nothing accepts.
func checkSigner(cert *x509.Certificate, signer crypto.Signer) error {
	pub, ok := signer.Public().(*rsa.PublicKey)
	if !ok {
		return fmt.Errorf("%w: signer for %q has a %T key; firmware needs RSA", ErrPKCS7, cert.Subject.CommonName, signer.Public())
	}
	if !pub.Equal(cert.PublicKey) {
		return fmt.Errorf("%w: signer's key is not the key of certificate %q", ErrPKCS7, cert.Subject.CommonName)
	}
	return nil
}

// parseSignedData accepts a SignedData with or without its ContentInfo wrapper.
func parseSignedData(der []byte) (*signedData, error) {
	var ci contentInfo
	if rest, err := asn1.Unmarshal(der, &ci); err == nil && len(rest) == 0 && ci.ContentType.Equal(oidSignedData) {
		der = ci.Content.Bytes
	}
	var sd signedData
	rest, err := asn1.Unmarshal(der, &sd)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPKCS7, err)
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after SignedData", ErrPKCS7, len(rest))
	}
	return &sd, nil
}

// verifyDetached checks that p7 (SignedData, wrapped or not) carries a
// signature by cert over content.
func verifyDetached(p7, content []byte, cert *x509.Certificate) error {
	sd, err := parseSignedData(p7)
	if err != nil {
		return err
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return fmt.Errorf("%w: certificate %q has a %T key", ErrPKCS7, cert.Subject.CommonName, cert.PublicKey)
	}
	for _, si := range sd.SignerInfos {
		if !bytes.Equal(si.IssuerAndSerialNumber.Issuer.FullBytes, cert.RawIssuer) ||
			si.IssuerAndSerialNumber.SerialNumber.Cmp(cert.SerialNumber) != 0 {
			continue
		}
		return verifySignerInfo(si, content, pub)
	}
	return fmt.Errorf("%w: no signer is %q (serial %x)", ErrSignature, cert.Subject.CommonName, cert.SerialNumber)
}

func verifySignerInfo(si signerInfo, content []byte, pub *rsa.PublicKey) error {
	switch {
	case !si.DigestAlgorithm.Algorithm.Equal(oidSHA256):
		return fmt.Errorf("%w: digest algorithm %v, want SHA-256", ErrPKCS7, si.DigestAlgorithm.Algorithm)
	case len(si.AuthenticatedAttributes.FullBytes) != 0:
		return fmt.Errorf("%w: signed attributes are not supported", ErrPKCS7)
	}
	digest := sha256.Sum256(content)
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], si.EncryptedDigest); err != nil {
		return fmt.Errorf("%w: %v", ErrSignature, err)
	}
	return nil
}
