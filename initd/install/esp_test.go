package install

import (
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kiln-os/kiln/bootloader"
	"github.com/kiln-os/kiln/bootloader/keys"
	"github.com/kiln-os/kiln/pipeline/disk/fat"
)

// TestPayloadPathsAreTheBuildersESP: the payload is the builder's ESP without EFI/Linux.
func TestPayloadPathsAreTheBuildersESP(t *testing.T) {
	if got := bootloader.Layout(); !slices.Equal(got, PayloadPaths) {
		t.Errorf("bootloader.Layout() = %q, PayloadPaths = %q", got, PayloadPaths)
	}
}

// TestESPFilesAreTheBuildersESP: from a payload directory holding the builder's ESP
// files (as the pipeline puts them in the rootfs) and a UKI, the installer's ESP is
// bootloader.ESP.Files for the same inputs, file for file and byte for byte.
func TestESPFilesAreTheBuildersESP(t *testing.T) {
	dir := t.TempDir()
	if err := keys.Generate(filepath.Join(dir, "keys"), "Kiln Test", rand.Reader, testEpoch); err != nil {
		t.Fatal(err)
	}
	set, err := keys.Load(filepath.Join(dir, "keys"))
	if err != nil {
		t.Fatal(err)
	}
	uki := fakeUKI()
	esp := bootloader.ESP{
		SystemdBoot: fakePayload()[0].Data, Keys: set, Owner: bootloader.OwnerGUID, Timestamp: testEpoch,
		UKIs: []bootloader.UKI{{Name: "kiln-0.1.0+3.efi", Data: uki}},
	}
	want, err := esp.Files()
	if err != nil {
		t.Fatal(err)
	}
	payload := filepath.Join(dir, "esp")
	for _, f := range want {
		if strings.HasPrefix(f.Path, bootloader.LinuxDir+"/") {
			continue
		}
		p := filepath.Join(payload, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, f.Data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	files, err := ReadPayload(payload)
	if err != nil {
		t.Fatal(err)
	}
	got, err := espFiles(files, "kiln-0.1.0+3.efi", uki)
	if err != nil {
		t.Fatal(err)
	}
	wantFAT := make([]fat.File, len(want))
	for i, f := range want {
		wantFAT[i] = fat.File{Path: f.Path, Data: f.Data}
	}
	if !slices.EqualFunc(got, wantFAT, func(a, b fat.File) bool { return a.Path == b.Path && string(a.Data) == string(b.Data) }) {
		t.Errorf("installer ESP %q differs from the builder's %q", paths(got), paths(wantFAT))
	}

	// A payload with one file more, or one less, is refused.
	extra := filepath.Join(payload, "EFI", "BOOT", "grubx64.efi")
	if err := os.WriteFile(extra, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadPayload(payload); !errors.Is(err, ErrPayload) || !strings.Contains(err.Error(), "grubx64.efi") {
		t.Errorf("extra file: got %v", err)
	}
	if err := os.Remove(extra); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(payload, "loader", "loader.conf")); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadPayload(payload); !errors.Is(err, ErrPayload) || !strings.Contains(err.Error(), "loader.conf") {
		t.Errorf("missing file: got %v", err)
	}
}

func paths(files []fat.File) []string {
	var out []string
	for _, f := range files {
		out = append(out, f.Path)
	}
	return out
}
