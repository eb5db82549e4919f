package authenticode

import (
	"bytes"
	"encoding/asn1"
	"fmt"
	"slices"
	"unicode/utf16"
)

// Object identifiers of the Authenticode profile of PKCS#7.
var (
	oidSignedData      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidContentType     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}
	oidMessageDigest   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
	oidSHA256          = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidRSAEncryption   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	oidSHA256WithRSA   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}
	oidSPCIndirectData = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 2, 1, 4}
	oidSPCSpOpusInfo   = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 2, 1, 12}
	oidSPCPEImageData  = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 2, 1, 15}
)

// obsoleteFile is the file name that SpcPeImageData must carry.
const obsoleteFile = "<<<Obsolete>>>"

// encoder builds DER by hand with encoding/asn1. The first error is sticky:
// later calls return nil and the caller checks err once at the end.
type encoder struct {
	err error
}

// marshal encodes one value with encoding/asn1.
func (e *encoder) marshal(v any) []byte {
	if e.err != nil {
		return nil
	}
	b, err := asn1.Marshal(v)
	if err != nil {
		e.err = fmt.Errorf("authenticode: encode %T: %w", v, err)
	}
	return b
}

// node encodes an element of the given class and tag around content.
func (e *encoder) node(class, tag int, compound bool, content ...[]byte) []byte {
	return e.marshal(asn1.RawValue{Class: class, Tag: tag, IsCompound: compound, Bytes: bytes.Join(content, nil)})
}

func (e *encoder) sequence(content ...[]byte) []byte {
	return e.node(asn1.ClassUniversal, asn1.TagSequence, true, content...)
}

// set encodes a DER SET OF: its elements sorted by their encodings.
func (e *encoder) set(elements ...[]byte) []byte {
	sorted := slices.Clone(elements)
	slices.SortFunc(sorted, bytes.Compare)
	return e.node(asn1.ClassUniversal, asn1.TagSet, true, sorted...)
}

// context encodes a constructed context-specific [tag] around content: an
// EXPLICIT tag, or an IMPLICIT one on a SET or SEQUENCE.
func (e *encoder) context(tag int, content ...[]byte) []byte {
	return e.node(asn1.ClassContextSpecific, tag, true, content...)
}

// algorithm encodes an AlgorithmIdentifier with NULL parameters.
func (e *encoder) algorithm(oid asn1.ObjectIdentifier) []byte {
	return e.sequence(e.marshal(oid), asn1.NullBytes)
}

// attribute encodes a PKCS#9 Attribute with one value.
func (e *encoder) attribute(oid asn1.ObjectIdentifier, value []byte) []byte {
	return e.sequence(e.marshal(oid), e.set(value))
}

// bmpString is s in UTF-16 big-endian, the contents of a BMPString.
func bmpString(s string) []byte {
	var b []byte
	for _, u := range utf16.Encode([]rune(s)) {
		b = append(b, byte(u>>8), byte(u))
	}
	return b
}
