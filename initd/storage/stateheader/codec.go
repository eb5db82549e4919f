package stateheader

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
)

// copyOffsets are where the two copies start in the header area.
var copyOffsets = [2]int64{0, CopySize}

// Marshal returns the whole header area (AreaSize bytes) with both copies of h.
func Marshal(h Header) ([]byte, error) {
	if err := h.validate(); err != nil {
		return nil, fmt.Errorf("stateheader: %w", err)
	}
	one := encodeCopy(h)
	area := make([]byte, AreaSize)
	for _, off := range copyOffsets {
		copy(area[off:], one)
	}
	return area, nil
}

func encodeCopy(h Header) []byte {
	le := binary.LittleEndian
	buf := make([]byte, fixedSize+len(h.SealedKey)+checksumSize)
	copy(buf, magicString)
	buf[9] = Version
	buf[10] = byte(h.Mode)
	le.PutUint32(buf[12:], uint32(len(h.SealedKey)))
	le.PutUint64(buf[16:], h.DataOffset)
	copy(buf[24:40], h.UUID[:])
	copy(buf[40:40+maxCipher], h.Cipher)
	copy(buf[fixedSize:], h.SealedKey)
	sum := sha256.Sum256(buf[:fixedSize+len(h.SealedKey)])
	copy(buf[fixedSize+len(h.SealedKey):], sum[:])
	return buf
}

// Parse reads the header area (at least AreaSize bytes) and returns the header from the
// first copy that verifies. damaged lists, as *CopyError, each copy that does not verify
// or differs from the one returned, so the caller can rewrite it. An all-zero area is
// ErrUnformatted; an area where no copy verifies is ErrCorrupt joined with both copies'
// errors.
func Parse(area []byte) (h Header, damaged []error, err error) {
	if len(area) < AreaSize {
		return Header{}, nil, fmt.Errorf("stateheader: header area is %d bytes, want %d", len(area), AreaSize)
	}
	area = area[:AreaSize]
	if allZero(area) {
		return Header{}, nil, ErrUnformatted
	}
	var found *Header
	for i, off := range copyOffsets {
		got, err := decodeCopy(area[off : off+CopySize])
		switch {
		case err != nil:
			damaged = append(damaged, &CopyError{Copy: i, Offset: off, Err: err})
		case found == nil:
			found = &got
		case !equal(*found, got):
			damaged = append(damaged, &CopyError{Copy: i, Offset: off, Err: errors.New("verifies but differs from copy 0")})
		}
	}
	if found == nil {
		return Header{}, damaged, errors.Join(append([]error{ErrCorrupt}, damaged...)...)
	}
	return *found, damaged, nil
}

func decodeCopy(slot []byte) (Header, error) {
	le := binary.LittleEndian
	if allZero(slot) {
		return Header{}, errors.New("all zero")
	}
	if string(slot[:len(magicString)]) != magicString {
		return Header{}, fmt.Errorf("bad magic %q", slot[:len(magicString)])
	}
	if slot[9] != Version {
		return Header{}, fmt.Errorf("format version %d, this machined reads %d", slot[9], Version)
	}
	if slot[11] != 0 {
		return Header{}, errors.New("reserved byte 11 is not zero")
	}
	n := le.Uint32(slot[12:])
	if n > MaxSealedKey {
		return Header{}, fmt.Errorf("sealed key length %d exceeds %d", n, MaxSealedKey)
	}
	end := fixedSize + int(n)
	want := sha256.Sum256(slot[:end])
	if !bytes.Equal(slot[end:end+checksumSize], want[:]) {
		return Header{}, errors.New("SHA-256 mismatch")
	}
	cipher, err := cipherField(slot[40 : 40+maxCipher])
	if err != nil {
		return Header{}, err
	}
	h := Header{
		Mode:       Mode(slot[10]),
		Cipher:     cipher,
		DataOffset: le.Uint64(slot[16:]),
		SealedKey:  bytes.Clone(slot[fixedSize:end]),
	}
	copy(h.UUID[:], slot[24:40])
	if err := h.validate(); err != nil {
		return Header{}, err
	}
	return h, nil
}

// cipherField reads the NUL-padded cipher; bytes after the first NUL must be NUL too,
// so that one header has one encoding.
func cipherField(b []byte) (string, error) {
	s, rest, _ := bytes.Cut(b, []byte{0})
	if !allZero(rest) {
		return "", errors.New("cipher field has bytes after its NUL terminator")
	}
	return string(s), nil
}

func equal(a, b Header) bool {
	return a.Mode == b.Mode && a.Cipher == b.Cipher && a.DataOffset == b.DataOffset &&
		a.UUID == b.UUID && bytes.Equal(a.SealedKey, b.SealedKey)
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
