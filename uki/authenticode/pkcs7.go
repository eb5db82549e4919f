package authenticode

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/binary"
	"fmt"
	"math/big"
)

// Bounds on what a signature may hold, so that a hostile one cannot make
// Verify do unbounded work.
const (
	maxElements     = 64 // children of one SEQUENCE or SET
	maxCertificates = 16
)

// signature is a parsed Authenticode SignedData.
type signature struct {
	indirect    []byte // contents octets of the SpcIndirectDataContent
	imageDigest []byte // the image hash it holds
	certs       []*x509.Certificate
	signer      signerInfo
}

// signerInfo is the one SignerInfo of a signature.
type signerInfo struct {
	issuer    []byte // DER Name
	serial    *big.Int
	digestAlg asn1.ObjectIdentifier
	attrs     asn1.RawValue // [0] IMPLICIT authenticated attributes
	sigAlg    asn1.ObjectIdentifier
	sig       []byte
}

// contentInfoASN1 is a PKCS#7 ContentInfo with its content still encoded
// and still wrapped in its [0] EXPLICIT tag (encoding/asn1 does not strip
// explicit tags from a RawValue); see explicitContent.
type contentInfoASN1 struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue
}

// explicitContent returns the one element inside the [0] EXPLICIT tag of a
// ContentInfo's content.
func (ci contentInfoASN1) explicitContent(what string) (asn1.RawValue, error) {
	var inner asn1.RawValue
	if !is(ci.Content, asn1.ClassContextSpecific, 0) {
		return inner, formatErr("%s: content is not tagged [0]", what)
	}
	return inner, unmarshal(ci.Content.Bytes, &inner, what)
}

type spcIndirectDataASN1 struct {
	Data struct {
		Type  asn1.ObjectIdentifier
		Value asn1.RawValue `asn1:"optional"`
	}
	MessageDigest struct {
		Algorithm pkix.AlgorithmIdentifier
		Digest    []byte
	}
}

type attributeASN1 struct {
	Type   asn1.ObjectIdentifier
	Values []asn1.RawValue `asn1:"set"`
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

// elements splits the contents octets of a constructed value into its
// children.
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

// pkcs7Blob returns the PKCS#7 bytes of the one WIN_CERTIFICATE that fills
// the certificate table.
func pkcs7Blob(table []byte) ([]byte, error) {
	length := uint64(binary.LittleEndian.Uint32(table))
	revision := binary.LittleEndian.Uint16(table[4:])
	kind := binary.LittleEndian.Uint16(table[6:])
	padded := (length + certTableAlign - 1) / certTableAlign * certTableAlign
	switch {
	case length < winCertHeaderLen || padded != uint64(len(table)):
		return nil, formatErr("WIN_CERTIFICATE of %d bytes in a table of %d (only one signature is supported)", length, len(table))
	case revision != winCertRevision || kind != winCertTypePKCSSignedData:
		return nil, fmt.Errorf("%w: WIN_CERTIFICATE revision %#x type %#x", ErrUnsupported, revision, kind)
	case !allZero(table[length:]):
		return nil, formatErr("WIN_CERTIFICATE padding is not zero")
	}
	return table[winCertHeaderLen:length], nil
}

// parseSignature parses the ContentInfo in a WIN_CERTIFICATE; zero padding
// may follow it.
func parseSignature(blob []byte) (*signature, error) {
	var ci contentInfoASN1
	rest, err := asn1.Unmarshal(blob, &ci)
	if err != nil {
		return nil, formatErr("ContentInfo: %w", err)
	}
	if !allZero(rest) {
		return nil, formatErr("data after the ContentInfo")
	}
	if !ci.ContentType.Equal(oidSignedData) {
		return nil, fmt.Errorf("%w: content type %v, want SignedData", ErrUnsupported, ci.ContentType)
	}
	sd, err := ci.explicitContent("SignedData")
	if err != nil {
		return nil, err
	}
	return parseSignedData(sd)
}

// parseSignedData parses SignedData: version, digestAlgorithms, contentInfo,
// [0] certificates, optional [1] crls, signerInfos.
func parseSignedData(v asn1.RawValue) (*signature, error) {
	if !is(v, asn1.ClassUniversal, asn1.TagSequence) {
		return nil, formatErr("SignedData is not a SEQUENCE")
	}
	kids, err := elements(v.Bytes, "SignedData")
	if err != nil {
		return nil, err
	}
	if len(kids) < 5 || !is(kids[3], asn1.ClassContextSpecific, 0) {
		return nil, formatErr("SignedData has %d fields or no certificates", len(kids))
	}
	s := &signature{}
	if err := s.parseContent(kids[2]); err != nil {
		return nil, err
	}
	if s.certs, err = parseCertificates(kids[3]); err != nil {
		return nil, err
	}
	infos := kids[len(kids)-1]
	if (len(kids) == 6 && !is(kids[4], asn1.ClassContextSpecific, 1)) || len(kids) > 6 || !is(infos, asn1.ClassUniversal, asn1.TagSet) {
		return nil, formatErr("SignedData fields out of order")
	}
	return s, s.parseSignerInfos(infos)
}

// parseContent parses the SignedData's contentInfo: SpcIndirectDataContent.
func (s *signature) parseContent(v asn1.RawValue) error {
	var ci contentInfoASN1
	if err := unmarshal(v.FullBytes, &ci, "contentInfo"); err != nil {
		return err
	}
	content, err := ci.explicitContent("SpcIndirectDataContent")
	if err != nil {
		return err
	}
	if !ci.ContentType.Equal(oidSPCIndirectData) || !is(content, asn1.ClassUniversal, asn1.TagSequence) {
		return fmt.Errorf("%w: content type %v, want SpcIndirectDataContent", ErrUnsupported, ci.ContentType)
	}
	var ind spcIndirectDataASN1
	if err := unmarshal(content.FullBytes, &ind, "SpcIndirectDataContent"); err != nil {
		return err
	}
	if !ind.Data.Type.Equal(oidSPCPEImageData) {
		return fmt.Errorf("%w: indirect data type %v, want SpcPeImageData", ErrUnsupported, ind.Data.Type)
	}
	if alg := ind.MessageDigest.Algorithm.Algorithm; !alg.Equal(oidSHA256) {
		return fmt.Errorf("%w: image hash algorithm %v, want SHA-256", ErrUnsupported, alg)
	}
	s.indirect = content.Bytes
	s.imageDigest = ind.MessageDigest.Digest
	return nil
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

func (s *signature) parseSignerInfos(v asn1.RawValue) error {
	infos, err := elements(v.Bytes, "signerInfos")
	if err != nil {
		return err
	}
	if len(infos) != 1 {
		return fmt.Errorf("%w: %d SignerInfos, want 1", ErrUnsupported, len(infos))
	}
	s.signer, err = parseSignerInfo(infos[0])
	return err
}

// parseSignerInfo parses version, issuerAndSerialNumber, digestAlgorithm,
// [0] authenticatedAttributes, digestEncryptionAlgorithm, encryptedDigest
// and optional [1] unauthenticatedAttributes (ignored).
func parseSignerInfo(v asn1.RawValue) (signerInfo, error) {
	var si signerInfo
	if !is(v, asn1.ClassUniversal, asn1.TagSequence) {
		return si, formatErr("SignerInfo is not a SEQUENCE")
	}
	kids, err := elements(v.Bytes, "SignerInfo")
	if err != nil {
		return si, err
	}
	if len(kids) < 6 || len(kids) > 7 || !is(kids[3], asn1.ClassContextSpecific, 0) {
		return si, fmt.Errorf("%w: SignerInfo without authenticated attributes", ErrUnsupported)
	}
	var ias struct {
		Issuer asn1.RawValue
		Serial *big.Int
	}
	var digestAlg, sigAlg pkix.AlgorithmIdentifier
	for _, step := range []error{
		unmarshal(kids[1].FullBytes, &ias, "issuerAndSerialNumber"),
		unmarshal(kids[2].FullBytes, &digestAlg, "digestAlgorithm"),
		unmarshal(kids[4].FullBytes, &sigAlg, "digestEncryptionAlgorithm"),
		unmarshal(kids[5].FullBytes, &si.sig, "encryptedDigest"),
	} {
		if step != nil {
			return si, step
		}
	}
	si.issuer, si.serial = ias.Issuer.FullBytes, ias.Serial
	si.digestAlg, si.sigAlg, si.attrs = digestAlg.Algorithm, sigAlg.Algorithm, kids[3]
	return si, nil
}

// parseAttributes returns the single value of each authenticated attribute,
// by type.
func parseAttributes(v asn1.RawValue) (map[string]asn1.RawValue, error) {
	kids, err := elements(v.Bytes, "authenticatedAttributes")
	if err != nil {
		return nil, err
	}
	attrs := make(map[string]asn1.RawValue, len(kids))
	for _, k := range kids {
		var a attributeASN1
		if err := unmarshal(k.FullBytes, &a, "attribute"); err != nil {
			return nil, err
		}
		if _, dup := attrs[a.Type.String()]; dup || len(a.Values) != 1 {
			return nil, formatErr("attribute %v repeated or without exactly one value", a.Type)
		}
		attrs[a.Type.String()] = a.Values[0]
	}
	return attrs, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
