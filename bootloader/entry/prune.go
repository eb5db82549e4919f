package entry

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/kiln-os/kiln/internal/atomicfile"
)

// ErrBooted is returned when Prune cannot find the booted entry in the directory.
var ErrBooted = errors.New("entry: booted entry not in directory")

// Prune removes old Kiln UKIs from linuxDir: it keeps the newest keep good
// (not Bad) entries in systemd-boot's order and removes every Kiln entry
// that sorts after the oldest of them when badness is ignored, i.e. older
// ones, good or bad. It never removes booted (the running UKI's file name,
// matched without case as FAT does; after Bless, the blessed name), nor a bad
// entry newer than the kept ones (the evidence of a failed upgrade, replaced
// by the next one), nor files that are not Kiln UKIs. With fewer than keep
// good entries it removes nothing. It returns the names removed, in
// systemd-boot's order, and fsyncs the directory.
//
// machined calls it after blessing with keep 2: the running UKI and the
// previous good one stay, so the fallback survives.
func Prune(linuxDir string, keep int, booted string) (removed []string, err error) {
	if keep < 1 {
		return nil, fmt.Errorf("entry: prune keep %d: must keep at least 1", keep)
	}
	entries, err := readKiln(linuxDir)
	if err != nil {
		return nil, err
	}
	if !containsFold(entries, booted) {
		return nil, fmt.Errorf("%w: %q in %s", ErrBooted, booted, linuxDir)
	}
	for _, e := range doomed(entries, keep, booted) {
		if err := os.Remove(filepath.Join(linuxDir, e.Name())); err != nil {
			return removed, err
		}
		removed = append(removed, e.Name())
	}
	if len(removed) == 0 {
		return nil, nil
	}
	return removed, atomicfile.SyncDir(linuxDir)
}

// doomed picks what Prune removes from entries (any order).
func doomed(entries []Entry, keep int, booted string) []Entry {
	Sort(entries)
	var oldestKept *Entry
	good := 0
	for i := range entries {
		if !entries[i].Bad() {
			good++
			oldestKept = &entries[i]
		}
		if good == keep {
			break
		}
	}
	if good < keep {
		return nil
	}
	var out []Entry
	for _, e := range entries {
		if strings.EqualFold(e.Name(), booted) || e.Name() == oldestKept.Name() {
			continue
		}
		if compareAge(e, *oldestKept) > 0 {
			out = append(out, e)
		}
	}
	return out
}

// readKiln parses the Kiln UKIs in dir: regular files named kiln-*.efi in
// the canonical form Kiln and systemd-boot write (Name() == file name), so
// the name Prune removes is always the file it parsed.
func readKiln(dir string) ([]Entry, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var entries []Entry
	for _, de := range des {
		if !de.Type().IsRegular() || !strings.HasPrefix(de.Name(), Prefix) {
			continue
		}
		if e, err := Parse(de.Name()); err == nil && e.Name() == de.Name() {
			entries = append(entries, e)
		}
	}
	return entries, nil
}

func containsFold(entries []Entry, name string) bool {
	for _, e := range entries {
		if strings.EqualFold(e.Name(), name) {
			return true
		}
	}
	return false
}
