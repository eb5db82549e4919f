package entry

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/kiln-os/kiln/internal/atomicfile"
)

// Errors of the file operations, wrapped with the path at fault.
var (
	// ErrOutside is returned for a LoaderBootCountPath outside \EFI\Linux\.
	ErrOutside = errors.New(`entry: path is not a file in \EFI\Linux`)
	// ErrExist is returned when the blessed name is already taken.
	ErrExist = errors.New("entry: blessed name already exists")
	// ErrNotFound is returned when neither the counted nor the blessed file exists.
	ErrNotFound = errors.New("entry: booted entry not found")
)

// espLinuxDir is the directory of UKIs as systemd-boot writes it into
// LoaderBootCountPath (from the ESP's root, backslashes).
const espLinuxDir = `\EFI\Linux\`

// NameFromBootCountPath returns the file name from a LoaderBootCountPath value
// such as `\EFI\Linux\kiln-0.1.0+2-1.efi`. Anything but a plain file name in
// \EFI\Linux (matched without case, as FAT does) is ErrOutside.
func NameFromBootCountPath(bootCountPath string) (string, error) {
	n := len(espLinuxDir)
	if len(bootCountPath) <= n || !strings.EqualFold(bootCountPath[:n], espLinuxDir) {
		return "", fmt.Errorf("%w: %q", ErrOutside, bootCountPath)
	}
	name := bootCountPath[n:]
	if strings.ContainsAny(name, `\/`) || name == "." || name == ".." {
		return "", fmt.Errorf("%w: %q", ErrOutside, bootCountPath)
	}
	return name, nil
}

// Bless marks the booted entry good: it renames the file that
// LoaderBootCountPath names (bootCountPath, in systemd-boot's
// `\EFI\Linux\NAME` form) inside linuxDir (where EFI/Linux of the ESP is
// mounted, e.g. /boot/EFI/Linux) to its name without counter, fsyncs the
// directory and returns the new name.
//
// It is idempotent: an entry without counter, or one already renamed by an
// earlier call in this boot, returns the blessed name without change. It
// never replaces a file (ErrExist) and never touches anything outside
// linuxDir (ErrOutside).
func Bless(linuxDir, bootCountPath string) (newName string, err error) {
	name, err := NameFromBootCountPath(bootCountPath)
	if err != nil {
		return "", err
	}
	e, err := Parse(name)
	if err != nil {
		return "", err
	}
	if !e.Counting {
		return name, nil
	}
	blessed := e.Blessed()
	if b, err := Parse(blessed); err != nil || b.Counting {
		return "", fmt.Errorf("%w: %q would still read as counted once blessed", ErrName, name)
	}
	return blessed, renameNoReplace(linuxDir, name, blessed)
}

// renameNoReplace renames from to to inside dir, then fsyncs the file under its
// new name and then dir. If from is gone and to exists, an earlier call did the
// work. The file fsync matters on vfat (atomicfile.Sync says why): a directory fsync
// alone could make durable a blessed name with no data behind it.
func renameNoReplace(dir, from, to string) error {
	src, dst := filepath.Join(dir, from), filepath.Join(dir, to)
	_, srcErr := os.Lstat(src)
	_, dstErr := os.Lstat(dst)
	switch {
	case errors.Is(srcErr, fs.ErrNotExist) && dstErr == nil:
		return nil
	case errors.Is(srcErr, fs.ErrNotExist):
		return fmt.Errorf("%w: %s", ErrNotFound, src)
	case srcErr != nil:
		return srcErr
	case dstErr == nil:
		return fmt.Errorf("%w: %s (while blessing %s)", ErrExist, dst, from)
	case !errors.Is(dstErr, fs.ErrNotExist):
		return dstErr
	}
	if err := os.Rename(src, dst); err != nil {
		return err
	}
	if err := atomicfile.Sync(dst); err != nil {
		return err
	}
	return atomicfile.SyncDir(dir)
}
