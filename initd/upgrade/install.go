package upgrade

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/kiln-os/kiln/internal/atomicfile"
)

// Install writes a verified image to espLinuxDir (the mounted ESP's
// EFI/Linux) as v.Name, "kiln-<version>+3.efi", and returns that name. The
// steps, each durable before the next (the package doc says why):
//
//  1. refuse if TempName is there (Cleanup has not run: it may share its
//     clusters with a UKI) or if v.Name is the booted UKI;
//  2. prune: remove every Kiln UKI but the booted and the previous good one,
//     fsync the directory;
//  3. write TempName (O_EXCL), fsync it, read it back and compare SHA-256;
//  4. rename it to v.Name: the commit point;
//  5. fsync the file under its new name, then the directory.
//
// It never opens the booted or the previous good UKI for writing, never
// renames onto them and never removes them. On an error before step 4 it
// removes TempName; the caller holds Lock.
func Install(espLinuxDir string, v *Verified) (name string, err error) {
	if v == nil || v.Name == "" || v.Booted == "" {
		return "", errors.New("upgrade: Install needs the result of Verify")
	}
	tmp, final := filepath.Join(espLinuxDir, TempName), filepath.Join(espLinuxDir, v.Name)
	if _, err := os.Lstat(tmp); !errors.Is(err, fs.ErrNotExist) {
		return "", refuse(CheckESP, fmt.Errorf("%w: %s", ErrLeftover, tmp))
	}
	if strings.EqualFold(v.Name, v.Booted) {
		return "", refuse(CheckESP, fmt.Errorf("%s is the booted UKI: it is never rewritten", v.Name))
	}
	p, err := makePlan(espLinuxDir, v.Booted)
	if err != nil {
		return "", err
	}
	if _, err := removeAll(espLinuxDir, p.remove); err != nil {
		return "", fmt.Errorf("prune: %w", err)
	}
	if err := writeTemp(tmp, v.Image, v.SHA256); err != nil {
		os.Remove(tmp)
		return "", err
	}
	if err := os.Rename(tmp, final); err != nil {
		os.Remove(tmp)
		return "", err
	}
	if err := atomicfile.Sync(final); err != nil {
		return "", err
	}
	return v.Name, atomicfile.SyncDir(espLinuxDir)
}

// writeTemp creates path (never truncating an existing file), writes data,
// fsyncs, and reads it back through a fresh descriptor to check its hash.
func writeTemp(path string, data []byte, sum [sha256.Size]byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return &fs.PathError{Op: "fsync", Path: path, Err: err}
	}
	if err := f.Close(); err != nil {
		return err
	}
	back, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if got := sha256.Sum256(back); !bytes.Equal(got[:], sum[:]) {
		return fmt.Errorf("upgrade: %s reads back with SHA-256 %x, wrote %x", path, got, sum)
	}
	return nil
}
