package guid

import (
	"bytes"
	"errors"
	"testing"
)

// EFI_GLOBAL_VARIABLE and the EFI System partition type, as the UEFI specification
// defines them ({0x8BE4DF61, 0x93CA, 0x11d2, {0xAA, 0x0D, ...}}) and as they lie on disk.
var efiVectors = []struct {
	text string
	efi  []byte
}{
	{"8be4df61-93ca-11d2-aa0d-00e098032b8c", []byte{0x61, 0xdf, 0xe4, 0x8b, 0xca, 0x93, 0xd2, 0x11, 0xaa, 0x0d, 0x00, 0xe0, 0x98, 0x03, 0x2b, 0x8c}},
	{"c12a7328-f81f-11d2-ba4b-00a0c93ec93b", []byte{0x28, 0x73, 0x2A, 0xC1, 0x1F, 0xF8, 0xD2, 0x11, 0xBA, 0x4B, 0x00, 0xA0, 0xC9, 0x3E, 0xC9, 0x3B}},
}

func TestEFILayout(t *testing.T) {
	for _, v := range efiVectors {
		g := MustParse(v.text)
		if got := g.AppendEFI([]byte{0xff}); !bytes.Equal(got[1:], v.efi) || got[0] != 0xff {
			t.Errorf("%s: AppendEFI = % x, want ff % x", v.text, got, v.efi)
		}
		if back := FromEFI(v.efi); back != g || back.String() != v.text {
			t.Errorf("FromEFI(% x) = %v, want %s", v.efi, back, v.text)
		}
	}
}

func TestParseRoundTrip(t *testing.T) {
	for _, s := range []string{
		"8be4df61-93ca-11d2-aa0d-00e098032b8c", "d719b2cb-3d3a-4596-a3bc-dad00e67656f",
		"4a67b082-0a4c-41cf-b6c7-440b29bb8c4f", "a5c059a1-94e4-4aa7-87b5-ab155c2bf072",
		"00000000-0000-0000-0000-000000000000",
	} {
		g, err := Parse(s)
		if err != nil || g.String() != s {
			t.Errorf("Parse(%q) = %v, %v", s, g, err)
		}
	}
	const upper = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
	if g, err := Parse(upper); err != nil || g != MustParse("c12a7328-f81f-11d2-ba4b-00a0c93ec93b") || g.Upper() != upper {
		t.Errorf("upper case: %v, %v", g, err)
	}
}

func TestParseRejects(t *testing.T) {
	for _, s := range []string{
		"", "8be4df61-93ca-11d2-aa0d-00e098032b8", "8be4df61-93ca-11d2-aa0d-00e098032b8cc",
		"8be4df6193ca-11d2-aa0d-00e098032b8c-", "8be4df61-93ca-11d2-aa0d-00e098032b8g",
		"8be4df61093ca011d20aa0d000e098032b8c", "8be4df6-193ca-11d2-aa0d-00e098032b8c",
		"C12A7328F81F11D2BA4B00A0C93EC93B", "+12a7328-f81f-11d2-ba4b-00a0c93ec93b",
	} {
		if _, err := Parse(s); !errors.Is(err, ErrSyntax) {
			t.Errorf("Parse(%q) error %v, want ErrSyntax", s, err)
		}
	}
}
