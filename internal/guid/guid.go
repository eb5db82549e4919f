// Package guid is Kiln's one GUID type: the vendor and owner GUIDs of UEFI variables and
// signature lists (bootloader/efivar) and the disk, partition and type GUIDs of a GPT
// (pipeline/disk/gpt). Both formats store a GUID the same way, as an EFI_GUID, so one type
// with one encoding serves the firmware side and the disk side alike.
//
// A GUID holds its bytes in the order the text form reads them (RFC 4122);
// PutEFI/AppendEFI and FromEFI convert to and from the EFI_GUID layout on disk and in
// firmware memory, whose first three fields are little-endian. Keeping the byte order in
// one place is the point: a GUID written with the wrong half swapped still looks like a
// GUID, and only the firmware or sgdisk notices.
//
// The room: parsing, printing and encoding 16 bytes. It is a leaf: standard library only,
// no I/O, and no imports of builder or node packages, so that both sides can use it.
package guid

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// ErrSyntax is returned, with the text at fault, for a string that is not a GUID.
var ErrSyntax = errors.New("guid: malformed GUID (want 8-4-4-4-12 hex digits)")

// GUID is a GUID in RFC 4122 byte order: byte 0 is the first two hex digits of the text.
type GUID [16]byte

// Size is the length of a GUID in bytes, in either layout.
const Size = 16

// Parse reads the canonical text form "8be4df61-93ca-11d2-aa0d-00e098032b8c", in either
// case.
func Parse(s string) (GUID, error) {
	var g GUID
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return g, fmt.Errorf("%w: %q", ErrSyntax, s)
	}
	if _, err := hex.Decode(g[:], []byte(s[0:8]+s[9:13]+s[14:18]+s[19:23]+s[24:36])); err != nil {
		return g, fmt.Errorf("%w: %q", ErrSyntax, s)
	}
	return g, nil
}

// MustParse is Parse for constants; it panics on a malformed string.
func MustParse(s string) GUID {
	g, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return g
}

// String is the canonical lower-case text form, as efivarfs names and RFC 4122 write it.
func (g GUID) String() string {
	h := hex.EncodeToString(g[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// Upper is the upper-case text form, as sgdisk and fdisk print it.
func (g GUID) Upper() string {
	return strings.ToUpper(g.String())
}

// PutEFI writes g into b[:Size] as an EFI_GUID: Data1 (4 bytes), Data2 and Data3 (2 bytes
// each) little-endian, then Data4 (8 bytes) as they are.
func (g GUID) PutEFI(b []byte) {
	binary.LittleEndian.PutUint32(b[0:4], binary.BigEndian.Uint32(g[0:4]))
	binary.LittleEndian.PutUint16(b[4:6], binary.BigEndian.Uint16(g[4:6]))
	binary.LittleEndian.PutUint16(b[6:8], binary.BigEndian.Uint16(g[6:8]))
	copy(b[8:16], g[8:16])
}

// AppendEFI appends g to b as an EFI_GUID (see PutEFI).
func (g GUID) AppendEFI(b []byte) []byte {
	var e [Size]byte
	g.PutEFI(e[:])
	return append(b, e[:]...)
}

// FromEFI reads the EFI_GUID in b[:Size]; the caller checks the length, as with
// encoding/binary.
func FromEFI(b []byte) GUID {
	var g GUID
	binary.BigEndian.PutUint32(g[0:4], binary.LittleEndian.Uint32(b[0:4]))
	binary.BigEndian.PutUint16(g[4:6], binary.LittleEndian.Uint16(b[4:6]))
	binary.BigEndian.PutUint16(g[6:8], binary.LittleEndian.Uint16(b[6:8]))
	copy(g[8:16], b[8:16])
	return g
}
