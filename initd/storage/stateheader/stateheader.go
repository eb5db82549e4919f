// Package stateheader is the on-disk header of Kiln's STATE partition: which dm target
// opens it, with what cipher, where the data starts, and the TPM-sealed key blob.
//
// The first 1 MiB of STATE is the header area; the same header is written twice, at 0
// and at 512 KiB, so that a write torn by a power cut leaves one intact copy. Each copy
// (all integers little-endian):
//
//	off  size  field
//	  0     9  magic "KILNSTATE"
//	  9     1  format version (1)
//	 10     1  mode: 1 sealed (dm-crypt), 2 plain (dm-linear, no TPM)
//	 11     1  reserved, zero
//	 12     4  length N of the sealed-key blob (at most MaxSealedKey)
//	 16     8  data offset in 512-byte sectors (2048: right after the header area)
//	 24    16  random UUID of this STATE
//	 40    64  cipher, NUL-padded ("aes-xts-plain64", the only one allowed, when sealed;
//	           empty when plain)
//	104     N  sealed-key blob, opaque (the TPM sealer's format)
//	104+N  32  SHA-256 of bytes [0, 104+N)
//
// The rest of the header area is zero. A header area that is all zero is a partition
// that was never formatted (the image pipeline writes STATE zeroed): ErrUnformatted.
// Anything else that does not verify is corrupt, and a corrupt header must never lead
// to reformatting: that choice belongs to initd/storage, which refuses it.
//
// Writers write copy 0, fsync, then copy 1, fsync; readers prefer copy 0. A crash during
// copy 0 leaves the old copy 1; a crash after it leaves the new copy 0. Either is a
// complete header.
//
// The bytes are untrusted (anyone with the disk can write them); Parse bounds every
// length before use and is fuzzed. The header holds no secret: the blob is only
// useful to the TPM it was sealed to.
package stateheader

import (
	"errors"
	"fmt"
)

// Layout of the header area.
const (
	AreaSize     = 1 << 20   // bytes reserved for headers at the start of STATE
	CopySize     = 512 << 10 // each copy's slot
	DataOffset   = AreaSize / SectorSize
	SectorSize   = 512
	MaxSealedKey = 16 << 10
	Version      = 1
	CipherXTS    = "aes-xts-plain64"
	maxCipher    = 64
	fixedSize    = 104
	checksumSize = 32
	magicString  = "KILNSTATE"
)

// Mode says how STATE's data area is opened.
type Mode uint8

// The two modes: sealed is dm-crypt with a TPM-sealed key; plain is dm-linear on a
// machine without a TPM, chosen only when the operator allows it.
const (
	ModeSealed Mode = 1
	ModePlain  Mode = 2
)

func (m Mode) String() string {
	switch m {
	case ModeSealed:
		return "sealed"
	case ModePlain:
		return "plain"
	}
	return fmt.Sprintf("mode(%d)", uint8(m))
}

// Header is one STATE header.
type Header struct {
	Mode Mode
	// Cipher is the dm-crypt cipher spec; empty in plain mode.
	Cipher string
	// DataOffset is where the data area starts, in 512-byte sectors.
	DataOffset uint64
	UUID       [16]byte
	// SealedKey is the TPM sealer's blob; empty in plain mode.
	SealedKey []byte
}

// UUIDString renders the UUID as 8-4-4-4-12 hex digits.
func (h Header) UUIDString() string {
	u := h.UUID
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// Errors.
var (
	ErrUnformatted = errors.New("stateheader: header area is all zero (never formatted)")
	ErrCorrupt     = errors.New("stateheader: no header copy verifies")
)

// CopyError says what is wrong with one copy.
type CopyError struct {
	Copy   int   // 0 or 1
	Offset int64 // byte offset of the copy in the partition
	Err    error
}

func (e *CopyError) Error() string {
	return fmt.Sprintf("header copy %d at byte %d: %v", e.Copy, e.Offset, e.Err)
}

func (e *CopyError) Unwrap() error { return e.Err }

// validate checks the fields that make a header usable, for both Marshal and Parse.
// Every field that reaches the device-mapper table is pinned to what this version
// writes: the bytes come from whoever had the disk.
func (h Header) validate() error {
	if err := h.validateMode(); err != nil {
		return err
	}
	if len(h.SealedKey) > MaxSealedKey {
		return fmt.Errorf("sealed key of %d bytes exceeds %d", len(h.SealedKey), MaxSealedKey)
	}
	if h.DataOffset != DataOffset {
		return fmt.Errorf("data offset %d sectors: format version %d puts the data area right after the header area, at sector %d",
			h.DataOffset, Version, DataOffset)
	}
	return nil
}

func (h Header) validateMode() error {
	switch h.Mode {
	case ModeSealed:
		if len(h.SealedKey) == 0 {
			return errors.New("sealed mode needs a sealed key")
		}
		// The cipher is copied verbatim into the dm-crypt table (dm-crypt's
		// "<cipher> <key> <iv_offset> <device> <offset>"): cipher_null would map the
		// data in clear, and a space would add table words.
		if h.Cipher != CipherXTS {
			return fmt.Errorf("cipher field is %q; the only cipher allowed is %q", h.Cipher, CipherXTS)
		}
	case ModePlain:
		if h.Cipher != "" || len(h.SealedKey) != 0 {
			return errors.New("plain mode has no cipher and no sealed key")
		}
	default:
		return fmt.Errorf("unknown mode %d", uint8(h.Mode))
	}
	return nil
}
