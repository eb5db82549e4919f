package machined

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/sirupsen/logrus"

	"github.com/kiln-os/kiln/bootloader/efivar"
	"github.com/kiln-os/kiln/initd/bootmedium"
	"github.com/kiln-os/kiln/initd/events"
	"github.com/kiln-os/kiln/initd/resources"
	"github.com/kiln-os/kiln/initd/upgrade"
	"github.com/kiln-os/kiln/internal/version"
	"github.com/kiln-os/kiln/pipeline/disk/layout"
)

// Where the ESP is mounted while machined blesses the boot or serves an Upgrade or a
// Rollback; it is unmounted right after.
const (
	espLabel    = layout.LabelESP
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

// reportMedium finds what the firmware booted from, logs it, emits a "boot-medium" event
// and puts it in runtime/BootStatus.
func reportMedium(log logrus.FieldLogger, dir string, emit func(events.Event), record func(func(*resources.BootStatusSpec))) bootmedium.Evidence {
	ev := bootmedium.Detect(dir)
	log.WithFields(logrus.Fields{"medium": ev.Medium, "reason": ev.Reason}).Info("boot medium")
	fields := map[string]string{"reason": ev.Reason}
	if ev.PartUUID != "" {
		fields["partUUID"] = ev.PartUUID
	}
	emit(events.Event{Type: events.TypeInfo, Name: "boot-medium", State: string(ev.Medium), Fields: fields})
	record(func(s *resources.BootStatusSpec) { s.Medium = string(ev.Medium) })
	return ev
}

// blessBoot makes the booted UKI permanent: systemd-boot names the entry it tried in
// LoaderBootCountPath; renaming it without the counter tells systemd-boot it is good.
// Then UKIs older than the previous good one are removed. Before that it cleans up after
// an interrupted upgrade and looks for an upgrade that fell back, and after it publishes
// runtime/BootStatus (espAtBoot). Without boot counting (a blessed entry, ISO, no UEFI)
// there is nothing to bless, and an ESP that cannot be read is only reported. A live boot
// (ISO or network) never touches an ESP.
func (m *Machined) blessBoot(ctx context.Context, log logrus.FieldLogger) (string, error) {
	if m.medium.Medium.Live() { // nothing on a live medium is counted, and the disks are not ours yet
		return "", nil
	}
	countPath, err := efivar.LoaderBootCountPath(efivar.EfivarsDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	if countPath == "" {
		if _, err := efivar.LoaderEntrySelected(efivar.EfivarsDir); err != nil {
			m.setBootStatus(func(s *resources.BootStatusSpec) {}) // not booted by systemd-boot from an ESP (netboot)
			return "", nil
		}
	}
	done, err := openESP()
	if err != nil {
		return "", m.espUnreadable(log, countPath, err)
	}
	defer done()
	linuxDir := filepath.Join(espMount, upgrade.LinuxDir)
	booted, err := bootedName(efivar.EfivarsDir, linuxDir, version.Version)
	if err != nil {
		return "", m.espUnreadable(log, countPath, err)
	}
	blessed, status, err := espAtBoot{linuxDir: linuxDir, countPath: countPath, booted: booted, version: version.Version,
		emit: m.emit, log: log}.run()
	if err != nil {
		return "", err
	}
	m.setBootStatus(func(s *resources.BootStatusSpec) {
		last, medium := s.LastUpgrade, s.Medium
		*s = status
		s.LastUpgrade, s.Medium = last, medium
	})
	return blessed, nil
}

// espUnreadable fails the boot when it has to be blessed, and otherwise only reports.
func (m *Machined) espUnreadable(log logrus.FieldLogger, countPath string, err error) error {
	if countPath != "" {
		return err
	}
	log.WithError(err).Warn("the ESP cannot be inspected: runtime/BootStatus names no UKI")
	m.setBootStatus(func(s *resources.BootStatusSpec) {})
	return nil
}
