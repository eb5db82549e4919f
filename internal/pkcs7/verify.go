package pkcs7

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"slices"
)

// Verify checks that si is a signature by cert over content, the content octets the
// signer hashed, whose type is contentType. Without authenticated attributes the signature
// is over content itself; with them, the contentType attribute must be contentType, the
// messageDigest attribute the SHA-256 of content, and the signature is over the attributes'
// DER SET (RFC 5652, section 5.4).
func (si SignerInfo) Verify(cert *x509.Certificate, contentType asn1.ObjectIdentifier, content []byte) error {
	if !si.DigestAlgorithm.Equal(OIDSHA256) {
		return fmt.Errorf("%w: digest algorithm %v, want SHA-256", ErrUnsupported, si.DigestAlgorithm)
	}
	if !si.SignatureAlgorithm.Equal(OIDRSAEncryption) && !si.SignatureAlgorithm.Equal(OIDSHA256WithRSA) {
		return fmt.Errorf("%w: signature algorithm %v, want RSA", ErrUnsupported, si.SignatureAlgorithm)
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return fmt.Errorf("%w: certificate %q has a %T key, want RSA", ErrUnsupported, cert.Subject.CommonName, cert.PublicKey)
	}
	signed := content
	if len(si.Attributes.FullBytes) != 0 {
		if err := si.checkAttributes(contentType, content); err != nil {
			return err
		}
		// The signature is over the attributes encoded as a SET, not as [0] IMPLICIT.
		signed = slices.Clone(si.Attributes.FullBytes)
		signed[0] = 0x31
	}
	sum := sha256.Sum256(signed)
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], si.Signature); err != nil {
		return fmt.Errorf("%w: %w", ErrSignature, err)
	}
	return nil
}

// checkAttributes checks that the authenticated attributes name the content type and
// carry the digest of content.
func (si SignerInfo) checkAttributes(contentType asn1.ObjectIdentifier, content []byte) error {
	attrs, err := parseAttributes(si.Attributes)
	if err != nil {
		return err
	}
	var gotType asn1.ObjectIdentifier
	if v, ok := attrs[OIDContentType.String()]; !ok || unmarshal(v.FullBytes, &gotType, "contentType") != nil ||
		!gotType.Equal(contentType) {
		return formatErr("contentType attribute missing or not %v", contentType)
	}
	var digest []byte
	if v, ok := attrs[OIDMessageDigest.String()]; !ok || unmarshal(v.FullBytes, &digest, "messageDigest") != nil {
		return formatErr("messageDigest attribute missing or malformed")
	}
	if want := sha256.Sum256(content); !bytes.Equal(digest, want[:]) {
		return fmt.Errorf("%w: messageDigest does not match the signed content", ErrSignature)
	}
	return nil
}

type attributeASN1 struct {
	Type   asn1.ObjectIdentifier
	Values []asn1.RawValue `asn1:"set"`
}

// parseAttributes returns the single value of each authenticated attribute, by type.
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
