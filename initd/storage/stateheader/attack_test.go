package stateheader

import (
	"strings"
	"testing"
)

// forgedArea is what someone with the disk can write: both copies of h with a valid
// checksum, encoded without Marshal's checks.
func forgedArea(h Header) []byte {
	area := make([]byte, AreaSize)
	one := encodeCopy(h)
	for _, off := range copyOffsets {
		copy(area[off:], one)
	}
	return area
}

// TestParseRefusesForeignCipher: the cipher goes into the dm-crypt table, so a header
// naming cipher_null (plaintext under any key) or smuggling extra table words must not
// parse, and the error names the field and the one allowed value.
func TestParseRefusesForeignCipher(t *testing.T) {
	for _, cipher := range []string{"cipher_null-ecb", "aes-cbc-plain", "aes-xts-plain64 00 0 /dev/sda 0", "AES-XTS-PLAIN64", "aes-xts-plain64\n"} {
		h := goldenHeader()
		h.Cipher = cipher
		_, _, err := Parse(forgedArea(h))
		if err == nil {
			t.Errorf("cipher %q: header parsed", cipher)
			continue
		}
		if !strings.Contains(err.Error(), "cipher") || !strings.Contains(err.Error(), CipherXTS) {
			t.Errorf("cipher %q: error does not name the field and the allowed value: %v", cipher, err)
		}
	}
	h := goldenHeader()
	h.Cipher = "cipher_null-ecb"
	if _, err := Marshal(h); err == nil {
		t.Error("Marshal wrote a header with cipher_null-ecb")
	}
}

// TestParseRefusesOtherDataOffset: version 1 puts the data area right behind the header
// area. Any other offset is refused: a large one would wrap the data length computed
// from it, a small one maps the header area itself.
func TestParseRefusesOtherDataOffset(t *testing.T) {
	for _, off := range []uint64{DataOffset + 1, 1 << 40, ^uint64(0), DataOffset - 1} {
		h := goldenHeader()
		h.DataOffset = off
		_, _, err := Parse(forgedArea(h))
		if err == nil || !strings.Contains(err.Error(), "data offset") {
			t.Errorf("data offset %d: %v", off, err)
		}
	}
}
