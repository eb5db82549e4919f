package upgrade

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/kiln-os/kiln/bootloader/entry"
	"github.com/kiln-os/kiln/internal/atomicfile"
)

// MarkBad is Rollback's write: it renames the booted UKI in espLinuxDir to
// its bad name, "<stem>+0[-DONE].efi", and returns that name. In the UAPI
// Boot Loader Specification's boot counting, an entry whose tries-left
// counter is 0 is in the bad state, and boot loaders sort bad entries after
// all others (systemd-boot 252: config_entry_compare(); here entry.Compare),
// so the next boot takes the previous good UKI, and the marked one stays as
// the evidence:
// https://uapi-group.org/specifications/specs/boot_loader_specification/#boot-counting
//
// It refuses (CheckRollback, ErrNoPreviousGood) unless the entry that would
// then sort first is a blessed UKI (no counter: it reached ready before),
// so a rollback never boots an untried image. An already bad booted entry
// is returned unchanged. The caller holds Lock and reboots afterwards.
func MarkBad(espLinuxDir, booted string) (string, error) {
	entries, err := readKiln(espLinuxDir)
	if err != nil {
		return "", refuse(CheckESP, err)
	}
	var self *entry.Entry
	var others []entry.Entry
	for i := range entries {
		if strings.EqualFold(entries[i].Name(), booted) {
			self = &entries[i]
		} else if !entries[i].Bad() {
			others = append(others, entries[i])
		}
	}
	if self == nil {
		return "", refuse(CheckESP, fmt.Errorf("%w: %q in %s", ErrBootedMissing, booted, espLinuxDir))
	}
	if self.Bad() {
		return self.Name(), nil
	}
	entry.Sort(others)
	if len(others) == 0 {
		return "", refuse(CheckRollback, ErrNoPreviousGood)
	}
	if next := others[0]; next.Counting {
		return "", refuse(CheckRollback, fmt.Errorf("%w: %s would boot next, and it has not been blessed", ErrNoPreviousGood, next.Name()))
	}
	bad := entry.Entry{Stem: self.Stem, Counting: true, Left: 0, Done: self.Done}.Name()
	from, to := filepath.Join(espLinuxDir, self.Name()), filepath.Join(espLinuxDir, bad)
	if _, err := os.Lstat(to); !errors.Is(err, fs.ErrNotExist) {
		return "", refuse(CheckESP, fmt.Errorf("%s already exists", to))
	}
	if err := os.Rename(from, to); err != nil {
		return "", err
	}
	if err := atomicfile.Sync(to); err != nil {
		return "", err
	}
	return bad, atomicfile.SyncDir(espLinuxDir)
}
