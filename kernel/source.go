// Package kernel builds Kiln's kernel: pinned Debian source, Kconfig fragments merged onto
// allnoconfig and verified symbol by symbol, the fully resolved config checked in, KSPP
// rules checked (package kernel/kspp), and a reproducible bzImage built once per set of
// inputs into a content-addressed cache.
//
// It is builder-side only: nothing on the node imports it. It runs make and gcc (the only
// host tools the pipeline calls) and never writes outside the cache and the log file it is
// given.
package kernel

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/kiln-os/kiln/internal/atomicfile"
	"github.com/kiln-os/kiln/internal/digest"
)

// The pinned kernel source: Debian's linux-source-6.1 package. Changing the package means
// changing these three lines and refreshing kernel/config/resolved-x86_64.config
// (make kernel-config).
const (
	SourcePackage        = "linux-source-6.1"
	SourcePackageVersion = "6.1.192-3"
	SourceTarball        = "/usr/src/linux-source-6.1.tar.xz"
	SourceSHA256         = "cacdc3830989309d042083be3307969e55600ed7f908cf00df544c5ff50759a1"
	// SourceDir is the top directory inside the tarball.
	SourceDir = "linux-source-6.1"
	// SourceEpoch is the modification time of the files in the pinned tarball (the Debian
	// package's own SOURCE_DATE_EPOCH). The kernel's build timestamp comes from here rather
	// than from the image's SOURCE_DATE_EPOCH, so a new commit does not rebuild the kernel.
	SourceEpoch = 1795713176
)

// ErrSource is returned when the pinned kernel source is missing or different.
var ErrSource = errors.New("kernel: source")

// verifySource checks the tarball's SHA-256 against the pin. Hashing 130 MB costs about half
// a second, so the result is remembered in the cache, keyed by path, size and mtime.
func verifySource(path, cacheDir, wantSHA string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("%w: %s is missing; install Debian package %s (version %s, tarball SHA-256 %s): apt-get install %s",
			ErrSource, path, SourcePackage, SourcePackageVersion, wantSHA, SourcePackage)
	}
	memo := filepath.Join(cacheDir, "kernel", "source-hashes.json")
	key := fmt.Sprintf("%s:%d:%d", path, fi.Size(), fi.ModTime().UnixNano())
	memos := readMemo(memo)
	sum, ok := memos[key]
	if !ok {
		if sum, _, err = digest.File(path); err != nil {
			return fmt.Errorf("%w: %v", ErrSource, err)
		}
		memos[key] = sum
		writeMemo(memo, memos)
	}
	if sum != wantSHA {
		return fmt.Errorf("%w: %s has SHA-256 %s, want %s (Debian package %s version %s); install that version or update the pin in kernel/source.go",
			ErrSource, path, sum, wantSHA, SourcePackage, SourcePackageVersion)
	}
	return nil
}

func readMemo(path string) map[string]string {
	m := map[string]string{}
	b, err := os.ReadFile(path)
	if err == nil {
		_ = json.Unmarshal(b, &m) // a broken memo only costs a re-hash
	}
	return m
}

func writeMemo(path string, m map[string]string) {
	b, _ := json.Marshal(m)
	_ = atomicfile.Write(path, b, 0o644) // best effort: the memo is an optimisation
}
