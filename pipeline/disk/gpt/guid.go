package gpt

import (
	"crypto/sha256"

	"github.com/kiln-os/kiln/internal/guid"
)

// Partition type GUIDs Kiln uses.
var (
	EFISystem       = guid.MustParse("C12A7328-F81F-11D2-BA4B-00A0C93EC93B")
	LinuxFilesystem = guid.MustParse("0FC63DAF-8483-4772-8E79-3D69D8477DE4")
)

// DeriveGUID is the GUID for what under seed, as the package doc describes.
func DeriveGUID(seed []byte, what string) guid.GUID {
	h := sha256.New()
	h.Write(seed)
	h.Write([]byte{0})
	h.Write([]byte(what))
	var g guid.GUID
	copy(g[:], h.Sum(nil))
	g[6] = g[6]&0x0F | 0x40 // version 4
	g[8] = g[8]&0x3F | 0x80 // RFC 4122 variant
	return g
}
