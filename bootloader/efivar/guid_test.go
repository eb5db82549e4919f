package efivar

import (
	"bytes"
	"errors"
	"testing"
)

func TestGUIDByteOrder(t *testing.T) {
	// EFI_GLOBAL_VARIABLE as it lies in memory: {0x8BE4DF61, 0x93CA, 0x11d2, {0xAA, 0x0D, ...}}.
	want := []byte{0x61, 0xdf, 0xe4, 0x8b, 0xca, 0x93, 0xd2, 0x11, 0xaa, 0x0d, 0x00, 0xe0, 0x98, 0x03, 0x2b, 0x8c}
	if !bytes.Equal(GlobalVariable[:], want) {
		t.Errorf("GlobalVariable bytes % x, want % x", GlobalVariable[:], want)
	}
	if got := GlobalVariable.String(); got != "8be4df61-93ca-11d2-aa0d-00e098032b8c" {
		t.Errorf("String() = %s", got)
	}
}

func TestParseGUIDRoundTrip(t *testing.T) {
	for _, s := range []string{
		"8be4df61-93ca-11d2-aa0d-00e098032b8c", "d719b2cb-3d3a-4596-a3bc-dad00e67656f",
		"4a67b082-0a4c-41cf-b6c7-440b29bb8c4f", "a5c059a1-94e4-4aa7-87b5-ab155c2bf072",
		"00000000-0000-0000-0000-000000000000",
	} {
		g, err := ParseGUID(s)
		if err != nil || g.String() != s {
			t.Errorf("ParseGUID(%q) = %v, %v", s, g, err)
		}
	}
	if g, err := ParseGUID("8BE4DF61-93CA-11D2-AA0D-00E098032B8C"); err != nil || g != GlobalVariable {
		t.Errorf("upper case: %v, %v", g, err)
	}
}

func TestParseGUIDRejects(t *testing.T) {
	for _, s := range []string{
		"", "8be4df61-93ca-11d2-aa0d-00e098032b8", "8be4df61-93ca-11d2-aa0d-00e098032b8cc",
		"8be4df6193ca-11d2-aa0d-00e098032b8c-", "8be4df61-93ca-11d2-aa0d-00e098032b8g",
		"8be4df61093ca011d20aa0d000e098032b8c", "8be4df6-193ca-11d2-aa0d-00e098032b8c",
	} {
		if _, err := ParseGUID(s); !errors.Is(err, ErrGUID) {
			t.Errorf("ParseGUID(%q) error %v, want ErrGUID", s, err)
		}
	}
}
