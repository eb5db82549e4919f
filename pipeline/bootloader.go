package pipeline

import (
	"context"
	"os"
	"path/filepath"

	"github.com/kiln-os/kiln/bootloader"
	"github.com/kiln-os/kiln/bootloader/keys"
	"github.com/kiln-os/kiln/uki/authenticode"
)

// bootloaderIn is the key systemd-boot is signed with.
type bootloaderIn struct {
	DB keys.Pair
	stepEnv
}

// bootloaderOut holds the path of the signed systemd-boot, inside the cache.
type bootloaderOut struct {
	SystemdBoot string
	cached
}

// stepBootloader signs systemd-boot with db.
func stepBootloader(ctx context.Context, in bootloaderIn) (bootloaderOut, error) {
	unsigned, err := readPinned(bootloader.SystemdBootSource, SystemdBootSHA256, StubPackage)
	if err != nil {
		return bootloaderOut{}, err
	}
	key := Key("systemd-boot-v1", SystemdBootSHA256, certFingerprint(in.DB.Cert.Raw))
	dir, hit, err := Cache{in.CacheDir}.Step("bootloader", key, func(dir string) error {
		signed, err := bootloader.SignSystemdBoot(unsigned, in.DB, authenticode.Sign)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, "systemd-bootx64.efi"), signed, 0o644)
	})
	if err != nil {
		return bootloaderOut{}, err
	}
	logHit(in.Log, "bootloader", hit)
	return bootloaderOut{SystemdBoot: filepath.Join(dir, "systemd-bootx64.efi"), cached: cached{hit}}, nil
}
