package machined

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/kiln-os/kiln/bootloader/efivar"
	"github.com/kiln-os/kiln/bootloader/entry"
	"github.com/kiln-os/kiln/initd/events"
	"github.com/kiln-os/kiln/initd/mount"
	"github.com/kiln-os/kiln/initd/resources"
	"github.com/kiln-os/kiln/initd/storage/partition"
)

// Where the ESP is mounted while machined blesses the boot; it is unmounted right after.
const (
	espLabel    = "EFI"
	espMount    = "/run/kiln/esp"
	keepEntries = 2
)

// reportSecureBoot emits the firmware's Secure Boot state, read from efivarfs under dir,
// and publishes it. A machine booted without UEFI (direct kernel boot) reports "no-efi".
func reportSecureBoot(log logrus.FieldLogger, dir string, emit func(events.Event), publish func(*resources.SecureBootStatusSpec)) {
	if _, err := os.Stat(dir); err != nil {
		emit(events.Event{Type: events.TypeInfo, Name: "secureboot", State: "no-efi"})
		publish(&resources.SecureBootStatusSpec{Source: "none"})
		return
	}
	sb, sbErr := efivar.SecureBootEnabled(dir)
	setup, setupErr := efivar.SetupMode(dir)
	fields := map[string]string{"SecureBoot": boolField(sb, sbErr), "SetupMode": boolField(setup, setupErr)}
	state := "disabled"
	if sb && sbErr == nil {
		state = "enabled"
	}
	log.WithFields(logrus.Fields{"SecureBoot": fields["SecureBoot"], "SetupMode": fields["SetupMode"]}).Info("secure boot")
	emit(events.Event{Type: events.TypeInfo, Name: "secureboot", State: state, Fields: fields})
	publish(&resources.SecureBootStatusSpec{SecureBoot: sb && sbErr == nil, SetupMode: setup && setupErr == nil, Source: "efivars"})
}

func boolField(v bool, err error) string {
	switch {
	case err != nil:
		return "unknown"
	case v:
		return "1"
	}
	return "0"
}

// blessBoot makes the booted UKI permanent: systemd-boot names the entry it tried in
// LoaderBootCountPath; renaming it without the counter tells systemd-boot it is good.
// Then UKIs older than the previous good one are removed. Without boot counting (ISO, a
// blessed entry, no UEFI) there is nothing to do.
func blessBoot(ctx context.Context, log logrus.FieldLogger) (string, error) {
	countPath, err := efivar.LoaderBootCountPath(efivar.EfivarsDir)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	dev, err := partition.Find(partition.SysClassBlock, espLabel)
	if err != nil {
		return "", err
	}
	esp := mount.Mount{Source: dev, Target: espMount, FSType: "vfat", Flags: mount.NoSuidDevExec, Data: "umask=0077,flush"}
	if err := esp.Do(); err != nil {
		return "", err
	}
	defer unix.Unmount(espMount, 0)
	linuxDir := filepath.Join(espMount, "EFI", "Linux")
	name, err := entry.Bless(linuxDir, countPath)
	if err != nil {
		return "", err
	}
	removed, err := entry.Prune(linuxDir, keepEntries, name)
	if err != nil {
		log.WithError(err).Warn("prune old UKIs")
	}
	log.WithFields(logrus.Fields{"entry": name, "removed": removed}).Info("boot blessed")
	unix.Sync()
	return name, nil
}
