package bootloader

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/kiln-os/kiln/bootloader/entry"
	"github.com/kiln-os/kiln/bootloader/keys"
	"github.com/kiln-os/kiln/internal/guid"
)

// Paths on the ESP, relative to its root, slash-separated.
const (
	BootX64Path     = "EFI/BOOT/BOOTX64.EFI"
	SystemdBootPath = "EFI/systemd/systemd-bootx64.efi"
	LoaderConfPath  = "loader/loader.conf"
	AutoKeysDir     = "loader/keys/auto"
	LinuxDir        = "EFI/Linux"
)

// LoaderConf returns loader/loader.conf for systemd-boot 252:
//
//   - timeout 0: no menu; the first entry in systemd-boot's order boots, and
//     a key pressed during the first 100 ms still opens the menu;
//   - no "default": entry IDs keep the boot counter in 252, and without a
//     default the newest good UKI wins and a bad one (+0-N) sorts last,
//     which is the A/B fallback;
//   - editor no: no editing of the command line (which Secure Boot makes
//     systemd-boot ignore for a UKI anyway);
//   - secure-boot-enroll force: in setup mode, enrol loader/keys/auto/
//     (db, KEK, then PK) without asking, then reset. The values are off,
//     manual (the default: offer a menu entry) and force; only force enrols
//     unattended, and only from the directory named "auto".
func LoaderConf() []byte {
	return []byte("timeout 0\neditor no\nsecure-boot-enroll force\n")
}

// File is one file of the ESP.
type File struct {
	Path string // relative to the ESP root, e.g. "loader/loader.conf"
	Data []byte
}

// UKI is a signed unified kernel image and its file name in EFI/Linux.
type UKI struct {
	Name string // e.g. entry.Fresh("0.1.0")
	Data []byte
}

// ESP is the content of the EFI system partition. Fill the inputs; Files
// returns the outputs.
type ESP struct {
	// SystemdBoot is systemd-boot signed with db (see SignSystemdBoot).
	SystemdBoot []byte
	// Keys are the Secure Boot keys whose certificates are enrolled.
	Keys *keys.Set
	// Owner is the signature owner GUID in the signature lists (OwnerGUID).
	Owner guid.GUID
	// Timestamp is the enrolment files' EFI_TIME: SOURCE_DATE_EPOCH.
	Timestamp time.Time
	// UKIs go to EFI/Linux.
	UKIs []UKI
}

// Files returns every file of the ESP, sorted by path. The directories are
// the parents of the paths.
func (e ESP) Files() ([]File, error) {
	if !IsSystemdBoot(e.SystemdBoot) {
		return nil, errors.New("bootloader: ESP.SystemdBoot is not a systemd-boot EFI binary (sign SystemdBootSource with SignSystemdBoot)")
	}
	files := []File{
		{BootX64Path, e.SystemdBoot},
		{SystemdBootPath, e.SystemdBoot},
		{LoaderConfPath, LoaderConf()},
	}
	auth, err := EnrollmentFiles(e.Keys, e.Owner, e.Timestamp)
	if err != nil {
		return nil, err
	}
	files = append(files, auth...)
	ukis, err := ukiFiles(e.UKIs)
	if err != nil {
		return nil, err
	}
	files = append(files, ukis...)
	slices.SortFunc(files, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
	return files, nil
}

func ukiFiles(ukis []UKI) ([]File, error) {
	var files []File
	seen := map[string]bool{}
	for _, u := range ukis {
		e, err := entry.Parse(u.Name)
		if err != nil {
			return nil, err
		}
		if e.Version == "" || e.Name() != u.Name {
			return nil, fmt.Errorf("%w: UKI %q, want %s<version>[+LEFT[-DONE]]%s", entry.ErrName, u.Name, entry.Prefix, entry.Suffix)
		}
		if seen[e.ID()] {
			return nil, fmt.Errorf("bootloader: UKI %q given twice (FAT names ignore case)", u.Name)
		}
		seen[e.ID()] = true
		files = append(files, File{LinuxDir + "/" + u.Name, u.Data})
	}
	return files, nil
}

// Layout lists the ESP's file paths for the given UKI names, sorted: the
// tree that ESP.Files fills.
func Layout(ukiNames ...string) []string {
	paths := []string{BootX64Path, SystemdBootPath, LoaderConfPath}
	for _, name := range authFileNames {
		paths = append(paths, AutoKeysDir+"/"+name)
	}
	for _, name := range ukiNames {
		paths = append(paths, LinuxDir+"/"+name)
	}
	slices.Sort(paths)
	return paths
}
