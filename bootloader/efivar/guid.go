package efivar

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// ErrGUID is returned for a malformed GUID string.
var ErrGUID = errors.New("efivar: invalid GUID")

// GUID is an EFI_GUID in its in-memory byte order: the first three fields
// little-endian, the last eight bytes as written.
type GUID [16]byte

// Well-known GUIDs.
var (
	// GlobalVariable is EFI_GLOBAL_VARIABLE: PK, KEK, SecureBoot, SetupMode.
	GlobalVariable = MustParseGUID("8be4df61-93ca-11d2-aa0d-00e098032b8c")
	// ImageSecurityDatabase is EFI_IMAGE_SECURITY_DATABASE_GUID: db and dbx.
	ImageSecurityDatabase = MustParseGUID("d719b2cb-3d3a-4596-a3bc-dad00e67656f")
	// LoaderVendor is systemd-boot's vendor GUID for its Loader* variables.
	LoaderVendor = MustParseGUID("4a67b082-0a4c-41cf-b6c7-440b29bb8c4f")
	// CertX509 is EFI_CERT_X509_GUID: a signature list of DER certificates.
	CertX509 = MustParseGUID("a5c059a1-94e4-4aa7-87b5-ab155c2bf072")
	// CertTypePKCS7 is EFI_CERT_TYPE_PKCS7_GUID, the CertType of a
	// WIN_CERTIFICATE_UEFI_GUID holding a PKCS#7 SignedData.
	CertTypePKCS7 = MustParseGUID("4aafd29d-68df-49ee-8aa9-347d375665a7")
)

// ParseGUID parses the canonical text form "8be4df61-93ca-11d2-aa0d-00e098032b8c"
// (either case).
func ParseGUID(s string) (GUID, error) {
	var g GUID
	parts := strings.Split(s, "-")
	if len(s) != 36 || len(parts) != 5 {
		return g, fmt.Errorf("%w: %q", ErrGUID, s)
	}
	raw, err := hex.DecodeString(strings.Join(parts, ""))
	if err != nil || len(parts[0]) != 8 || len(parts[1]) != 4 || len(parts[2]) != 4 || len(parts[3]) != 4 {
		return g, fmt.Errorf("%w: %q", ErrGUID, s)
	}
	binary.LittleEndian.PutUint32(g[0:4], binary.BigEndian.Uint32(raw[0:4]))
	binary.LittleEndian.PutUint16(g[4:6], binary.BigEndian.Uint16(raw[4:6]))
	binary.LittleEndian.PutUint16(g[6:8], binary.BigEndian.Uint16(raw[6:8]))
	copy(g[8:], raw[8:])
	return g, nil
}

// MustParseGUID is ParseGUID for constants; it panics on a malformed string.
func MustParseGUID(s string) GUID {
	g, err := ParseGUID(s)
	if err != nil {
		panic(err)
	}
	return g
}

// String returns the canonical lower-case text form, as efivarfs names use.
func (g GUID) String() string {
	return fmt.Sprintf("%08x-%04x-%04x-%x-%x",
		binary.LittleEndian.Uint32(g[0:4]), binary.LittleEndian.Uint16(g[4:6]),
		binary.LittleEndian.Uint16(g[6:8]), g[8:10], g[10:16])
}
