package install

import (
	"errors"
	"fmt"
	"io"

	"github.com/kiln-os/kiln/initd/upgrade"
	"github.com/kiln-os/kiln/pipeline/disk/fat"
	"github.com/kiln-os/kiln/pipeline/disk/iso"
)

// ErrNoUKI: the live medium holds no single Kiln UKI.
var ErrNoUKI = errors.New("install: no Kiln UKI on the boot medium")

// FileFromISO reads the file at path (an ESP path, EFI/kiln/...) from the live medium's
// EFI boot image, at most max bytes. The bytes are not trusted: the caller checks them.
func FileFromISO(r io.ReaderAt, size int64, path string, max int64) ([]byte, error) {
	im, err := iso.Open(r, size)
	if err != nil {
		return nil, err
	}
	boot, err := im.EFIBootImage()
	if err != nil {
		return nil, err
	}
	fsys, err := fat.Open(boot, boot.Size())
	if err != nil {
		return nil, fmt.Errorf("install: the ISO's EFI boot image: %w", err)
	}
	return fsys.ReadFile(path, max)
}

// FromISO reads the UKI off the live medium behind r, size bytes: the ISO on a CD
// (/dev/sr0), or the same hybrid image written to a USB stick (the whole disk). It
// follows the El Torito catalog to the EFI boot image, as the firmware did, opens that
// FAT volume and returns the one EFI/Linux/kiln-*.efi in it (the ISO carries the
// blessed name, kiln-<version>.efi) with its file name. The bytes are not trusted:
// the caller verifies the UKI (upgrade.VerifyInstall) before writing it anywhere.
func FromISO(r io.ReaderAt, size int64) (name string, uki []byte, err error) {
	im, err := iso.Open(r, size)
	if err != nil {
		return "", nil, err
	}
	boot, err := im.EFIBootImage()
	if err != nil {
		return "", nil, err
	}
	fsys, err := fat.Open(boot, boot.Size())
	if err != nil {
		return "", nil, fmt.Errorf("install: the ISO's EFI boot image: %w", err)
	}
	names, err := kilnNames(fsys)
	if err != nil {
		return "", nil, fmt.Errorf("%w: %w", ErrNoUKI, err)
	}
	if len(names) != 1 {
		return "", nil, fmt.Errorf("%w: %s holds %d Kiln UKIs %q, want one", ErrNoUKI, LinuxDir, len(names), names)
	}
	uki, err = fsys.ReadFile(LinuxDir+"/"+names[0], upgrade.MaxImageSize)
	if err != nil {
		return "", nil, err
	}
	return names[0], uki, nil
}
