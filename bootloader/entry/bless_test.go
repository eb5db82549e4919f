package entry

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// linuxDir makes an EFI/Linux directory holding files with the given names.
func linuxDir(t *testing.T, files ...string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "EFI", "Linux")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, de := range des {
		out = append(out, de.Name())
	}
	return out
}

func TestBless(t *testing.T) {
	dir := linuxDir(t, "kiln-0.1.0.efi", "kiln-0.2.0+2-1.efi")
	for i := 0; i < 2; i++ { // the second call finds the work done
		got, err := Bless(dir, `\EFI\Linux\kiln-0.2.0+2-1.efi`)
		if err != nil || got != "kiln-0.2.0.efi" {
			t.Fatalf("call %d: Bless = %q, %v", i, got, err)
		}
	}
	if got := dirNames(t, dir); !slices.Equal(got, []string{"kiln-0.1.0.efi", "kiln-0.2.0.efi"}) {
		t.Errorf("directory holds %q", got)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "kiln-0.2.0.efi")); string(data) != "kiln-0.2.0+2-1.efi" {
		t.Errorf("blessed file holds %q: not the renamed one", data)
	}
}

func TestBlessAlreadyBlessed(t *testing.T) {
	dir := linuxDir(t, "kiln-0.1.0.efi")
	got, err := Bless(dir, `\efi\linux\kiln-0.1.0.efi`) // FAT ignores case
	if err != nil || got != "kiln-0.1.0.efi" {
		t.Errorf("Bless = %q, %v", got, err)
	}
}

func TestBlessRefuses(t *testing.T) {
	dir := linuxDir(t, "kiln-0.1.0.efi", "kiln-0.1.0+1-2.efi")
	cases := map[string]error{
		`\EFI\BOOT\BOOTX64.EFI`:             ErrOutside,
		`\EFI\Linux\..\..\loader\x+1.efi`:   ErrOutside,
		`\EFI\Linux\sub\kiln-0.1.0+1-2.efi`: ErrOutside,
		`/EFI/Linux/kiln-0.1.0+1-2.efi`:     ErrOutside,
		`\EFI\Linux\`:                       ErrOutside,
		`\EFI\Linux\..`:                     ErrOutside,
		`\EFI\Linux\kiln-0.1.0+1-2.efi`:     ErrExist, // the blessed name is taken
		`\EFI\Linux\kiln-0.9.0+1-2.efi`:     ErrNotFound,
		`\EFI\Linux\kiln-0.1.0+1-2.conf`:    ErrName,
		`\EFI\Linux\kiln-0.1.0+5+1-2.efi`:   ErrName, // blessed, it would count again
	}
	for path, want := range cases {
		if got, err := Bless(dir, path); !errors.Is(err, want) {
			t.Errorf("Bless(%q) = %q, %v; want %v", path, got, err, want)
		}
	}
	if got := dirNames(t, dir); !slices.Equal(got, []string{"kiln-0.1.0+1-2.efi", "kiln-0.1.0.efi"}) {
		t.Errorf("a refused Bless changed the directory: %q", got)
	}
}
