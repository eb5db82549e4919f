package install

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/kiln-os/kiln/bootloader/entry"
	"github.com/kiln-os/kiln/pipeline/disk/fat"
)

// PayloadDir is where the signed rootfs carries the ESP's files other than the UKI,
// at their ESP paths.
const PayloadDir = "/usr/lib/kiln/esp"

// PayloadPaths are the files of the payload: the ESP's files other than EFI/Linux
// (bootloader.Layout with no UKI; a test keeps the two equal), sorted.
var PayloadPaths = []string{
	"EFI/BOOT/BOOTX64.EFI",
	"EFI/systemd/systemd-bootx64.efi",
	"loader/keys/auto/KEK.auth",
	"loader/keys/auto/PK.auth",
	"loader/keys/auto/db.auth",
	"loader/loader.conf",
}

// LinuxDir is the ESP's directory of UKIs.
const LinuxDir = "EFI/Linux"

// ErrPayload: the payload directory is not exactly PayloadPaths.
var ErrPayload = errors.New("install: ESP payload")

// maxPayloadFile bounds one payload file (systemd-boot is ~100 KiB).
const maxPayloadFile = 16 << 20

// ReadPayload reads the ESP payload from dir: exactly the regular files PayloadPaths
// names, nothing else (no other file, no symlink), so that the installed ESP is the
// one the image was built with.
func ReadPayload(dir string) ([]fat.File, error) {
	var files []fat.File
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || d.IsDir() {
			return err
		}
		rel = filepath.ToSlash(rel)
		if !d.Type().IsRegular() || !slices.Contains(PayloadPaths, rel) {
			return fmt.Errorf("%w: unexpected %s in %s", ErrPayload, rel, dir)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if info.Size() > maxPayloadFile {
			return fmt.Errorf("%w: %s is %d bytes, at most %d", ErrPayload, rel, info.Size(), maxPayloadFile)
		}
		data, err := os.ReadFile(p)
		files = append(files, fat.File{Path: rel, Data: data})
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(files) != len(PayloadPaths) {
		var missing []string
		for _, p := range PayloadPaths {
			if !slices.ContainsFunc(files, func(f fat.File) bool { return f.Path == p }) {
				missing = append(missing, p)
			}
		}
		return nil, fmt.Errorf("%w: %s lacks %q", ErrPayload, dir, missing)
	}
	return files, nil
}

// espFiles is the installed ESP: the payload and the UKI as EFI/Linux/ukiName, which
// must be a fresh boot-counting name (entry.Fresh), sorted by path as bootloader.ESP
// sorts them.
func espFiles(payload []fat.File, ukiName string, uki []byte) ([]fat.File, error) {
	e, err := entry.Parse(ukiName)
	if err != nil {
		return nil, fmt.Errorf("install: UKI name: %w", err)
	}
	if e.Version == "" || ukiName != entry.Fresh(e.Version) {
		return nil, fmt.Errorf("install: UKI name %q is not a fresh entry (%s)", ukiName, entry.Fresh("<version>"))
	}
	if len(uki) == 0 {
		return nil, errors.New("install: no UKI")
	}
	var paths []string
	for _, f := range payload {
		paths = append(paths, f.Path)
	}
	slices.Sort(paths)
	if !slices.Equal(paths, PayloadPaths) {
		return nil, fmt.Errorf("%w: got %q, want %q", ErrPayload, paths, PayloadPaths)
	}
	files := append(slices.Clone(payload), fat.File{Path: LinuxDir + "/" + ukiName, Data: uki})
	slices.SortFunc(files, func(a, b fat.File) int { return strings.Compare(a.Path, b.Path) })
	return files, nil
}
