package authenticode

import (
	"encoding/asn1"
	"unicode/utf16"
)

// Object identifiers of the Authenticode profile of PKCS#7; the generic ones are in
// internal/pkcs7.
var (
	oidSPCIndirectData = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 2, 1, 4}
	oidSPCSpOpusInfo   = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 2, 1, 12}
	oidSPCPEImageData  = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 2, 1, 15}
)

// obsoleteFile is the file name that SpcPeImageData must carry.
const obsoleteFile = "<<<Obsolete>>>"

// bmpString is s in UTF-16 big-endian, the contents of a BMPString.
func bmpString(s string) []byte {
	var b []byte
	for _, u := range utf16.Encode([]rune(s)) {
		b = append(b, byte(u>>8), byte(u))
	}
	return b
}
