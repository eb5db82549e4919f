package gpt

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
)

// GUID is a GUID in the byte order it is printed in (RFC 4122). On disk,
// GPT stores the first three fields little-endian; see encode.
type GUID [16]byte

// Partition type GUIDs Kiln uses.
var (
	EFISystem       = MustParseGUID("C12A7328-F81F-11D2-BA4B-00A0C93EC93B")
	LinuxFilesystem = MustParseGUID("0FC63DAF-8483-4772-8E79-3D69D8477DE4")
)

// ParseGUID reads the 36-character form "XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX".
func ParseGUID(s string) (GUID, error) {
	var g GUID
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return g, fmt.Errorf("%w: GUID %q", ErrLayout, s)
	}
	if _, err := hex.Decode(g[:], []byte(strings.ReplaceAll(s, "-", ""))); err != nil {
		return g, fmt.Errorf("%w: GUID %q: %w", ErrLayout, s, err)
	}
	return g, nil
}

// MustParseGUID is ParseGUID for constants; it panics on a malformed GUID.
func MustParseGUID(s string) GUID {
	g, err := ParseGUID(s)
	if err != nil {
		panic(err)
	}
	return g
}

// String is the upper-case 36-character form, as sgdisk prints it.
func (g GUID) String() string {
	h := strings.ToUpper(hex.EncodeToString(g[:]))
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// DeriveGUID is the GUID for what under seed, as the package doc describes.
func DeriveGUID(seed []byte, what string) GUID {
	h := sha256.New()
	h.Write(seed)
	h.Write([]byte{0})
	h.Write([]byte(what))
	var g GUID
	copy(g[:], h.Sum(nil))
	g[6] = g[6]&0x0F | 0x40 // version 4
	g[8] = g[8]&0x3F | 0x80 // RFC 4122 variant
	return g
}

// encode puts g in GPT's mixed-endian disk order.
func (g GUID) encode(b []byte) {
	binary.LittleEndian.PutUint32(b[0:], binary.BigEndian.Uint32(g[0:]))
	binary.LittleEndian.PutUint16(b[4:], binary.BigEndian.Uint16(g[4:]))
	binary.LittleEndian.PutUint16(b[6:], binary.BigEndian.Uint16(g[6:]))
	copy(b[8:16], g[8:])
}
