package efivar

import (
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf16"
)

// fakeEfivars writes variables as efivarfs shows them: "<name>-<guid>"
// holding the attributes (LE32) and the value.
func fakeEfivars(t *testing.T, vars map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	for name, value := range vars {
		if err := os.WriteFile(filepath.Join(dir, name), value, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func efivarFile(attrs uint32, value []byte) []byte {
	return append(binary.LittleEndian.AppendUint32(nil, attrs), value...)
}

func utf16z(s string) []byte {
	var b []byte
	for _, u := range utf16.Encode([]rune(s)) {
		b = binary.LittleEndian.AppendUint16(b, u)
	}
	return append(b, 0, 0)
}

const (
	global = "-8be4df61-93ca-11d2-aa0d-00e098032b8c"
	loader = "-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f"
)

func TestReadSecureBootState(t *testing.T) {
	dir := fakeEfivars(t, map[string][]byte{
		"SecureBoot" + global: efivarFile(0x06, []byte{1}),
		"SetupMode" + global:  efivarFile(0x06, []byte{0}),
	})
	attrs, data, err := Read(dir, "SecureBoot", GlobalVariable)
	if err != nil || attrs != AttrBootServiceAccess|AttrRuntimeAccess || len(data) != 1 {
		t.Errorf("Read = %#x, %x, %v", attrs, data, err)
	}
	if on, err := SecureBootEnabled(dir); err != nil || !on {
		t.Errorf("SecureBootEnabled = %v, %v", on, err)
	}
	if setup, err := SetupMode(dir); err != nil || setup {
		t.Errorf("SetupMode = %v, %v", setup, err)
	}
}

func TestLoaderBootCountPath(t *testing.T) {
	want := `\EFI\Linux\kiln-1.0+2-1.efi`
	dir := fakeEfivars(t, map[string][]byte{"LoaderBootCountPath" + loader: efivarFile(0x06, utf16z(want))})
	if got, err := LoaderBootCountPath(dir); err != nil || got != want {
		t.Errorf("LoaderBootCountPath = %q, %v", got, err)
	}
}

func TestLoaderEntrySelected(t *testing.T) {
	want := "kiln-1.0.efi"
	dir := fakeEfivars(t, map[string][]byte{"LoaderEntrySelected" + loader: efivarFile(0x06, utf16z(want))})
	if got, err := LoaderEntrySelected(dir); err != nil || got != want {
		t.Errorf("LoaderEntrySelected = %q, %v", got, err)
	}
}

func TestReadMissing(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoaderBootCountPath(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing LoaderBootCountPath: %v, want fs.ErrNotExist", err)
	}
	if _, err := SecureBootEnabled(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing SecureBoot: %v", err)
	}
}

func TestReadMalformed(t *testing.T) {
	dir := fakeEfivars(t, map[string][]byte{
		"SecureBoot" + global:          {6, 0, 0},
		"SetupMode" + global:           efivarFile(6, []byte{1, 0}),
		"LoaderBootCountPath" + loader: efivarFile(6, []byte{'a', 0, 'b'}),
	})
	if _, err := SecureBootEnabled(dir); !errors.Is(err, ErrVariable) {
		t.Errorf("3-byte file: %v", err)
	}
	if _, err := SetupMode(dir); !errors.Is(err, ErrVariable) {
		t.Errorf("2-byte bool: %v", err)
	}
	if _, err := LoaderBootCountPath(dir); !errors.Is(err, ErrVariable) {
		t.Errorf("odd UTF-16: %v", err)
	}
	noNUL := fakeEfivars(t, map[string][]byte{"LoaderBootCountPath" + loader: efivarFile(6, []byte{'a', 0})})
	if _, err := LoaderBootCountPath(noNUL); !errors.Is(err, ErrVariable) {
		t.Errorf("unterminated UTF-16: %v", err)
	}
	for _, name := range []string{"", "../SecureBoot", "a\x00b"} {
		if _, _, err := Read(dir, name, GlobalVariable); err == nil {
			t.Errorf("Read(%q) accepted", name)
		}
	}
}
