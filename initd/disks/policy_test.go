package disks

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-os/kiln/bootloader/efivar"
)

// PCR 7 is bound unless the command line says kiln.tpm.pcr7=0 (issue 12, hole 2), and a
// misspelt value is an error rather than a weaker policy.
func TestPolicyFromCmdline(t *testing.T) {
	for _, tc := range []struct {
		params map[string]string
		want   Policy
	}{
		{nil, Policy{}},
		{map[string]string{PCR7Param: "1"}, Policy{}},
		{map[string]string{PCR7Param: "0"}, Policy{SkipPCR7: true}},
		{map[string]string{TPMParam: "required", SecureBootParam: "optional"}, Policy{RequireTPM: true, SecureBootOptional: true}},
	} {
		got, err := PolicyFromCmdline(tc.params)
		if err != nil || got != tc.want {
			t.Errorf("%v: %+v, %v; want %+v", tc.params, got, err, tc.want)
		}
	}
	for _, bad := range []map[string]string{
		{PCR7Param: "off"}, {PCR7Param: ""}, {SecureBootParam: "1"}, {SecureBootParam: ""}, {TPMParam: "yes"},
	} {
		if _, err := PolicyFromCmdline(bad); err == nil || !strings.Contains(err.Error(), "kernel command line") {
			t.Errorf("%v: err = %v, want a command-line error", bad, err)
		}
	}
}

// writeEFIVar writes a one-byte global variable as efivarfs shows it: 4 bytes of
// attributes, then the data.
func writeEFIVar(t *testing.T, dir, name string, value byte) {
	t.Helper()
	path := filepath.Join(dir, name+"-"+efivar.GlobalVariable.String())
	if err := os.WriteFile(path, []byte{6, 0, 0, 0, value}, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Sealing refuses unless the firmware enforces Secure Boot, or the command line opts out.
func TestSealingRefusesSecureBootOff(t *testing.T) {
	for _, tc := range []struct {
		name              string
		secureBoot, setup int // -1: variable missing
		optional          bool
		refused           bool
	}{
		{"enforcing", 1, 0, false, false},
		{"secure boot off", 0, 0, false, true},
		{"setup mode", 0, 1, false, true},
		{"setup mode claiming secure boot", 1, 1, false, true},
		{"no variables", -1, -1, false, true},
		{"off, opted out", 0, 0, true, false},
		{"setup mode, opted out", 0, 1, true, false},
	} {
		dir := t.TempDir()
		if tc.secureBoot >= 0 {
			writeEFIVar(t, dir, "SecureBoot", byte(tc.secureBoot))
		}
		if tc.setup >= 0 {
			writeEFIVar(t, dir, "SetupMode", byte(tc.setup))
		}
		s := &tpmSealer{efivars: dir, secureBootOptional: tc.optional}
		err := s.checkSecureBoot()
		if got := err != nil; got != tc.refused {
			t.Errorf("%s: err = %v, refused %v, want %v", tc.name, err, got, tc.refused)
		}
		if err != nil && (!errors.Is(err, ErrSecureBootOff) || !strings.Contains(err.Error(), SecureBootParam+"=optional")) {
			t.Errorf("%s: %v does not say how to opt out", tc.name, err)
		}
	}
}
