package efivar

import (
	"bytes"
	"testing"
)

// EFI_GLOBAL_VARIABLE as it lies in memory and in a signing input:
// {0x8BE4DF61, 0x93CA, 0x11d2, {0xAA, 0x0D, ...}}.
func TestGUIDByteOrder(t *testing.T) {
	want := []byte{0x61, 0xdf, 0xe4, 0x8b, 0xca, 0x93, 0xd2, 0x11, 0xaa, 0x0d, 0x00, 0xe0, 0x98, 0x03, 0x2b, 0x8c}
	if got := GlobalVariable.AppendEFI(nil); !bytes.Equal(got, want) {
		t.Errorf("GlobalVariable bytes % x, want % x", got, want)
	}
	if got := GlobalVariable.String(); got != "8be4df61-93ca-11d2-aa0d-00e098032b8c" {
		t.Errorf("String() = %s", got)
	}
}
