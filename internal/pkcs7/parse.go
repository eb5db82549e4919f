package pkcs7

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"math/big"
)

// Bounds on what a SignedData may hold, so that a hostile one cannot make a parser do
// unbounded work.
const (
	maxElements     = 64 // children of one SEQUENCE or SET
	maxCertificates = 16
)

// ContentInfo is a parsed ContentInfo.
type ContentInfo struct {
	Type asn1.ObjectIdentifier
	// Content is the one element inside the [0] EXPLICIT tag; its FullBytes are empty when
	// the content is absent (a detached signature).
	Content asn1.RawValue
}

// SignedData is a parsed SignedData.
type SignedData struct {
	Content      ContentInfo // the encapsulated contentInfo
	Certificates []*x509.Certificate
	SignerInfos  []SignerInfo
}

// SignerInfo is one parsed SignerInfo.
type SignerInfo struct {
	Issuer             []byte // DER Name
	Serial             *big.Int
	DigestAlgorithm    asn1.ObjectIdentifier
	Attributes         asn1.RawValue // [0] IMPLICIT authenticated attributes; empty FullBytes when none
	SignatureAlgorithm asn1.ObjectIdentifier
	Signature          []byte
}

// Parse parses der, a SignedData with or without a ContentInfo around it, and nothing after.
func Parse(der []byte) (*SignedData, error) {
	ci, rest, err := ParseContentInfo(der)
	if err == nil && len(rest) == 0 && ci.Type.Equal(OIDSignedData) {
		return ParseSignedData(ci.Content)
	}
	var v asn1.RawValue
	if err := unmarshal(der, &v, "SignedData"); err != nil {
		return nil, err
	}
	return ParseSignedData(v)
}

// ParseContentInfo parses the ContentInfo at the start of der and returns the bytes after it.
func ParseContentInfo(der []byte) (ContentInfo, []byte, error) {
	var v asn1.RawValue
	rest, err := asn1.Unmarshal(der, &v)
	if err != nil {
		return ContentInfo{}, nil, formatErr("ContentInfo: %w", err)
	}
	ci, err := contentInfo(v, "ContentInfo")
	return ci, rest, err
}

// contentInfo parses a ContentInfo element: contentType, then [0] EXPLICIT content or
// nothing.
func contentInfo(v asn1.RawValue, what string) (ContentInfo, error) {
	var ci ContentInfo
	if !is(v, asn1.ClassUniversal, asn1.TagSequence) {
		return ci, formatErr("%s is not a SEQUENCE", what)
	}
	kids, err := elements(v.Bytes, what)
	if err != nil {
		return ci, err
	}
	if len(kids) < 1 || len(kids) > 2 {
		return ci, formatErr("%s has %d fields", what, len(kids))
	}
	if err := unmarshal(kids[0].FullBytes, &ci.Type, what+" contentType"); err != nil {
		return ci, err
	}
	if len(kids) == 2 {
		if !is(kids[1], asn1.ClassContextSpecific, 0) {
			return ci, formatErr("%s: content is not tagged [0]", what)
		}
		return ci, unmarshal(kids[1].Bytes, &ci.Content, what+" content")
	}
	return ci, nil
}

// ParseSignedData parses a SignedData element: version, digestAlgorithms, contentInfo,
// optional [0] certificates, optional [1] crls, signerInfos.
func ParseSignedData(v asn1.RawValue) (*SignedData, error) {
	if !is(v, asn1.ClassUniversal, asn1.TagSequence) {
		return nil, formatErr("SignedData is not a SEQUENCE")
	}
	kids, err := elements(v.Bytes, "SignedData")
	if err != nil {
		return nil, err
	}
	if len(kids) < 4 {
		return nil, formatErr("SignedData has %d fields", len(kids))
	}
	sd := &SignedData{}
	if sd.Content, err = contentInfo(kids[2], "contentInfo"); err != nil {
		return nil, err
	}
	next := kids[3:]
	if is(next[0], asn1.ClassContextSpecific, 0) {
		if sd.Certificates, err = parseCertificates(next[0]); err != nil {
			return nil, err
		}
		next = next[1:]
	}
	if len(next) > 0 && is(next[0], asn1.ClassContextSpecific, 1) {
		next = next[1:] // crls: nothing Kiln checks reads them
	}
	if len(next) != 1 || !is(next[0], asn1.ClassUniversal, asn1.TagSet) {
		return nil, formatErr("SignedData fields out of order")
	}
	sd.SignerInfos, err = parseSignerInfos(next[0])
	return sd, err
}

func parseCertificates(v asn1.RawValue) ([]*x509.Certificate, error) {
	kids, err := elements(v.Bytes, "certificates")
	if err != nil {
		return nil, err
	}
	if len(kids) > maxCertificates {
		return nil, fmt.Errorf("%w: %d certificates (at most %d)", ErrUnsupported, len(kids), maxCertificates)
	}
	certs := make([]*x509.Certificate, 0, len(kids))
	for _, k := range kids {
		c, err := x509.ParseCertificate(k.FullBytes)
		if err != nil {
			return nil, formatErr("certificate: %w", err)
		}
		certs = append(certs, c)
	}
	return certs, nil
}

func parseSignerInfos(v asn1.RawValue) ([]SignerInfo, error) {
	kids, err := elements(v.Bytes, "signerInfos")
	if err != nil {
		return nil, err
	}
	infos := make([]SignerInfo, 0, len(kids))
	for _, k := range kids {
		si, err := parseSignerInfo(k)
		if err != nil {
			return nil, err
		}
		infos = append(infos, si)
	}
	return infos, nil
}

// parseSignerInfo parses version, issuerAndSerialNumber, digestAlgorithm, optional [0]
// authenticatedAttributes, digestEncryptionAlgorithm, encryptedDigest and optional [1]
// unauthenticatedAttributes (ignored).
func parseSignerInfo(v asn1.RawValue) (SignerInfo, error) {
	var si SignerInfo
	if !is(v, asn1.ClassUniversal, asn1.TagSequence) {
		return si, formatErr("SignerInfo is not a SEQUENCE")
	}
	kids, err := elements(v.Bytes, "SignerInfo")
	if err != nil {
		return si, err
	}
	if len(kids) < 5 {
		return si, formatErr("SignerInfo has %d fields", len(kids))
	}
	rest := kids[3:]
	if is(rest[0], asn1.ClassContextSpecific, 0) {
		si.Attributes, rest = rest[0], rest[1:]
	}
	if len(rest) < 2 || len(rest) > 3 || (len(rest) == 3 && !is(rest[2], asn1.ClassContextSpecific, 1)) {
		return si, formatErr("SignerInfo fields out of order")
	}
	var ias struct {
		Issuer asn1.RawValue
		Serial *big.Int
	}
	var digestAlg, sigAlg struct {
		Algorithm  asn1.ObjectIdentifier
		Parameters asn1.RawValue `asn1:"optional"`
	}
	for _, step := range []error{
		unmarshal(kids[1].FullBytes, &ias, "issuerAndSerialNumber"),
		unmarshal(kids[2].FullBytes, &digestAlg, "digestAlgorithm"),
		unmarshal(rest[0].FullBytes, &sigAlg, "digestEncryptionAlgorithm"),
		unmarshal(rest[1].FullBytes, &si.Signature, "encryptedDigest"),
	} {
		if step != nil {
			return si, step
		}
	}
	si.Issuer, si.Serial = ias.Issuer.FullBytes, ias.Serial
	si.DigestAlgorithm, si.SignatureAlgorithm = digestAlg.Algorithm, sigAlg.Algorithm
	return si, nil
}

// SignerFor returns the SignerInfo that names cert by issuer and serial number.
func (sd *SignedData) SignerFor(cert *x509.Certificate) (SignerInfo, bool) {
	for _, si := range sd.SignerInfos {
		if si.Names(cert) {
			return si, true
		}
	}
	return SignerInfo{}, false
}

// Names reports whether si identifies cert (issuer and serial number).
func (si SignerInfo) Names(cert *x509.Certificate) bool {
	return si.Serial != nil && bytes.Equal(si.Issuer, cert.RawIssuer) && si.Serial.Cmp(cert.SerialNumber) == 0
}

func formatErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrFormat}, args...)...)
}

// unmarshal decodes exactly one DER value from b.
func unmarshal(b []byte, v any, what string) error {
	rest, err := asn1.Unmarshal(b, v)
	if err != nil {
		return formatErr("%s: %w", what, err)
	}
	if len(rest) > 0 {
		return formatErr("%s: %d trailing bytes", what, len(rest))
	}
	return nil
}

// elements splits the contents octets of a constructed value into its children.
func elements(b []byte, what string) ([]asn1.RawValue, error) {
	var out []asn1.RawValue
	for len(b) > 0 {
		if len(out) == maxElements {
			return nil, formatErr("%s: more than %d elements", what, maxElements)
		}
		var v asn1.RawValue
		rest, err := asn1.Unmarshal(b, &v)
		if err != nil {
			return nil, formatErr("%s: %w", what, err)
		}
		out = append(out, v)
		b = rest
	}
	return out, nil
}

// is reports whether v is a constructed element of the given class and tag.
func is(v asn1.RawValue, class, tag int) bool {
	return v.Class == class && v.Tag == tag && v.IsCompound
}
