package upgrade

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/kiln-os/kiln/bootloader/entry"
	"github.com/kiln-os/kiln/internal/atomicfile"
)

// Paths on the ESP, relative to its root. They are bootloader.LinuxDir and
// bootloader.AutoKeysDir, repeated because the node side does not import the
// builder's bootloader package (internal/reporules).
const (
	LinuxDir  = "EFI/Linux"
	DBAuthESP = "loader/keys/auto/db.auth"
	// TempName is the file Install writes before the rename; systemd-boot
	// ignores names starting with a dot.
	TempName = ".kiln-upgrade.tmp"
)

// plan is what Install keeps and removes in EFI/Linux.
type plan struct {
	booted   string   // the booted UKI's file name as it is in the directory
	previous string   // the previous good UKI, "" if none
	remove   []string // every other Kiln UKI: pruned before the write
}

// makePlan reads linuxDir and splits its Kiln UKIs: the booted one and the
// previous good one stay, the rest go. The previous good one is the first in
// systemd-boot's order, other than booted, that has been blessed (no
// counter): the proven fallback. An untried or tried-but-unblessed entry is
// not a fallback, so it is pruned like an old one.
func makePlan(linuxDir, booted string) (plan, error) {
	entries, err := readKiln(linuxDir)
	if err != nil {
		return plan{}, refuse(CheckESP, err)
	}
	p := plan{}
	for _, e := range entries {
		if strings.EqualFold(e.Name(), booted) {
			p.booted = e.Name()
		}
	}
	if booted == "" || p.booted == "" {
		return plan{}, refuse(CheckESP, fmt.Errorf("%w: %q in %s", ErrBootedMissing, booted, linuxDir))
	}
	p.previous = previousGood(entries, p.booted)
	for _, e := range entries {
		if e.Name() != p.booted && e.Name() != p.previous {
			p.remove = append(p.remove, e.Name())
		}
	}
	return p, nil
}

// previousGood is the first blessed entry in systemd-boot's order that is
// not booted, or "".
func previousGood(entries []entry.Entry, booted string) string {
	sorted := append([]entry.Entry(nil), entries...)
	entry.Sort(sorted)
	for _, e := range sorted {
		if !e.Counting && !strings.EqualFold(e.Name(), booted) {
			return e.Name()
		}
	}
	return ""
}

// readKiln parses the Kiln UKIs in dir: regular files named kiln-*.efi in
// the canonical form (Name() is the file name), as entry.Prune reads them.
func readKiln(dir string) ([]entry.Entry, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var entries []entry.Entry
	for _, de := range des {
		if !de.Type().IsRegular() || !strings.HasPrefix(de.Name(), entry.Prefix) {
			continue
		}
		if e, err := entry.Parse(de.Name()); err == nil && e.Name() == de.Name() && e.Version != "" {
			entries = append(entries, e)
		}
	}
	return entries, nil
}

// removeAll removes names from dir, in order, and fsyncs dir once.
func removeAll(dir string, names []string) ([]string, error) {
	var removed []string
	for _, n := range names {
		if err := os.Remove(filepath.Join(dir, n)); err != nil {
			return removed, err
		}
		removed = append(removed, n)
	}
	if len(removed) == 0 {
		return nil, nil
	}
	return removed, atomicfile.SyncDir(dir)
}
