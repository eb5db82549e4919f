package pkcs7

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"slices"
)

// Object identifiers of the parts of PKCS#7 Kiln writes and reads.
var (
	OIDData          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	OIDSignedData    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	OIDContentType   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}
	OIDMessageDigest = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
	OIDSHA256        = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	OIDRSAEncryption = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	OIDSHA256WithRSA = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}
)

// Encoder builds DER by hand with encoding/asn1, element by element, so that a caller
// controls every byte a firmware may look at. The first error is sticky: later calls
// return nil, and the caller checks Err once at the end.
type Encoder struct {
	Err error
}

// Marshal encodes one value with encoding/asn1.
func (e *Encoder) Marshal(v any) []byte {
	if e.Err != nil {
		return nil
	}
	b, err := asn1.Marshal(v)
	if err != nil {
		e.Err = fmt.Errorf("pkcs7: encode %T: %w", v, err)
	}
	return b
}

// Node encodes an element of the given class and tag around content.
func (e *Encoder) Node(class, tag int, compound bool, content ...[]byte) []byte {
	return e.Marshal(asn1.RawValue{Class: class, Tag: tag, IsCompound: compound, Bytes: bytes.Join(content, nil)})
}

// Sequence encodes a SEQUENCE of the given encoded elements.
func (e *Encoder) Sequence(content ...[]byte) []byte {
	return e.Node(asn1.ClassUniversal, asn1.TagSequence, true, content...)
}

// Set encodes a DER SET OF: its elements sorted by their encodings.
func (e *Encoder) Set(elements ...[]byte) []byte {
	sorted := slices.Clone(elements)
	slices.SortFunc(sorted, bytes.Compare)
	return e.Node(asn1.ClassUniversal, asn1.TagSet, true, sorted...)
}

// Context encodes a constructed context-specific [tag] around content: an EXPLICIT tag,
// or an IMPLICIT one on a SET or SEQUENCE.
func (e *Encoder) Context(tag int, content ...[]byte) []byte {
	return e.Node(asn1.ClassContextSpecific, tag, true, content...)
}

// Algorithm encodes an AlgorithmIdentifier with NULL parameters.
func (e *Encoder) Algorithm(oid asn1.ObjectIdentifier) []byte {
	return e.Sequence(e.Marshal(oid), asn1.NullBytes)
}

// Attribute encodes a PKCS#9 Attribute with one value.
func (e *Encoder) Attribute(oid asn1.ObjectIdentifier, value []byte) []byte {
	return e.Sequence(e.Marshal(oid), e.Set(value))
}

// ContentInfo encodes a ContentInfo of type oid; content, when not nil, is the one
// encoded element inside its [0] EXPLICIT tag. A nil content leaves the field out, as a
// detached signature's encapsulated content does.
func (e *Encoder) ContentInfo(oid asn1.ObjectIdentifier, content []byte) []byte {
	if content == nil {
		return e.Sequence(e.Marshal(oid))
	}
	return e.Sequence(e.Marshal(oid), e.Context(0, content))
}

// SignerInfo encodes the SignerInfo of cert: version 1, issuer and serial number, SHA-256,
// the encoded [0] IMPLICIT authenticated attributes (nil for none), rsaEncryption and sig.
func (e *Encoder) SignerInfo(cert *x509.Certificate, attrs, sig []byte) []byte {
	return e.Sequence(
		e.Marshal(1), // version
		e.Sequence(cert.RawIssuer, e.Marshal(cert.SerialNumber)),
		e.Algorithm(OIDSHA256),
		attrs,
		e.Algorithm(OIDRSAEncryption),
		e.Marshal(sig),
	)
}

// SignedData encodes a SignedData (without a ContentInfo around it) holding the
// encapsulated contentInfo, cert as the only certificate, and one signerInfo.
func (e *Encoder) SignedData(contentInfo []byte, cert *x509.Certificate, signerInfo []byte) []byte {
	return e.Sequence(
		e.Marshal(1), // version
		e.Set(e.Algorithm(OIDSHA256)),
		contentInfo,
		e.Context(0, cert.Raw), // certificates [0] IMPLICIT SET OF
		e.Set(signerInfo),
	)
}
