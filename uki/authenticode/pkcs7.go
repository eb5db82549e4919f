package authenticode

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/kiln-os/kiln/internal/pkcs7"
)

// signature is a parsed Authenticode SignedData.
type signature struct {
	indirect    []byte // contents octets of the SpcIndirectDataContent
	imageDigest []byte // the image hash it holds
	certs       []*x509.Certificate
	signer      pkcs7.SignerInfo
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

func formatErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrFormat}, args...)...)
}

// pkcs7Error puts an error of internal/pkcs7 under this package's sentinels, so that
// callers check authenticode's errors only.
func pkcs7Error(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, pkcs7.ErrSignature):
		return fmt.Errorf("%w: %w", ErrSignature, err)
	case errors.Is(err, pkcs7.ErrUnsupported):
		return fmt.Errorf("%w: %w", ErrUnsupported, err)
	case errors.Is(err, pkcs7.ErrKey):
		return fmt.Errorf("%w: %w", ErrKey, err)
	case errors.Is(err, pkcs7.ErrFormat):
		return fmt.Errorf("%w: %w", ErrFormat, err)
	}
	return err
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

// parseSignature parses the ContentInfo in a WIN_CERTIFICATE (zero padding may follow
// it) and checks it is the Authenticode profile: a SignedData over SpcIndirectDataContent
// with certificates and exactly one SignerInfo with authenticated attributes.
func parseSignature(blob []byte) (*signature, error) {
	ci, rest, err := pkcs7.ParseContentInfo(blob)
	if err != nil {
		return nil, pkcs7Error(err)
	}
	if !allZero(rest) {
		return nil, formatErr("data after the ContentInfo")
	}
	if !ci.Type.Equal(pkcs7.OIDSignedData) {
		return nil, fmt.Errorf("%w: content type %v, want SignedData", ErrUnsupported, ci.Type)
	}
	sd, err := pkcs7.ParseSignedData(ci.Content)
	if err != nil {
		return nil, pkcs7Error(err)
	}
	s := &signature{certs: sd.Certificates}
	if err := s.parseContent(sd.Content); err != nil {
		return nil, err
	}
	switch {
	case len(sd.Certificates) == 0:
		return nil, formatErr("SignedData has no certificates")
	case len(sd.SignerInfos) != 1:
		return nil, fmt.Errorf("%w: %d SignerInfos, want 1", ErrUnsupported, len(sd.SignerInfos))
	case len(sd.SignerInfos[0].Attributes.FullBytes) == 0:
		return nil, fmt.Errorf("%w: SignerInfo without authenticated attributes", ErrUnsupported)
	}
	s.signer = sd.SignerInfos[0]
	return s, nil
}

// parseContent parses the SignedData's contentInfo: SpcIndirectDataContent.
func (s *signature) parseContent(ci pkcs7.ContentInfo) error {
	content := ci.Content
	if !ci.Type.Equal(oidSPCIndirectData) || content.Class != asn1.ClassUniversal || content.Tag != asn1.TagSequence {
		return fmt.Errorf("%w: content type %v, want SpcIndirectDataContent", ErrUnsupported, ci.Type)
	}
	var ind spcIndirectDataASN1
	rest, err := asn1.Unmarshal(content.FullBytes, &ind)
	if err != nil {
		return formatErr("SpcIndirectDataContent: %w", err)
	}
	if len(rest) != 0 {
		return formatErr("SpcIndirectDataContent: %d trailing bytes", len(rest))
	}
	if !ind.Data.Type.Equal(oidSPCPEImageData) {
		return fmt.Errorf("%w: indirect data type %v, want SpcPeImageData", ErrUnsupported, ind.Data.Type)
	}
	if alg := ind.MessageDigest.Algorithm.Algorithm; !alg.Equal(pkcs7.OIDSHA256) {
		return fmt.Errorf("%w: image hash algorithm %v, want SHA-256", ErrUnsupported, alg)
	}
	s.indirect = content.Bytes
	s.imageDigest = ind.MessageDigest.Digest
	return nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
