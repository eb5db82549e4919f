package machined

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/kiln-os/kiln/bootloader/efivar"
	"github.com/kiln-os/kiln/bootloader/entry"
	"github.com/kiln-os/kiln/initd/disks"
	"github.com/kiln-os/kiln/initd/events"
	"github.com/kiln-os/kiln/initd/machineapi"
	"github.com/kiln-os/kiln/initd/mount"
	"github.com/kiln-os/kiln/initd/resources"
	"github.com/kiln-os/kiln/initd/stage1"
	"github.com/kiln-os/kiln/initd/storage/partition"
	"github.com/kiln-os/kiln/initd/upgrade"
	"github.com/kiln-os/kiln/internal/version"
)

// upgradeTempDir receives an Upgrade's image: on EPHEMERAL, as DESIGN says, never on the
// ESP and never only in PID 1's heap.
var upgradeTempDir = filepath.Join(disks.EphemeralMount, "lib", "kiln", "upgrade")

// osRelease is the running image's os-release (its ID is what an upgrade's .osrel must say).
const osRelease = "/etc/os-release"

// espMu serializes mounts of the ESP on espMount: the Ready phase (bless) and the API
// (Upgrade, Rollback) each mount it for the time of their work and unmount it after.
var espMu sync.Mutex

// openESP mounts the ESP on espMount and returns a function that unmounts it.
func openESP() (done func(), err error) {
	espMu.Lock()
	dev, err := partition.Find(partition.SysClassBlock, espLabel)
	if err != nil {
		espMu.Unlock()
		return nil, fmt.Errorf("find the ESP (label %s): %w", espLabel, err)
	}
	esp := mount.Mount{Source: dev, Target: espMount, FSType: "vfat", Flags: mount.NoSuidDevExec, Data: "umask=0077,flush"}
	if err := esp.Do(); err != nil {
		espMu.Unlock()
		return nil, err
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			unix.Sync()
			unix.Unmount(espMount, 0)
			espMu.Unlock()
		})
	}, nil
}

// upgrades is machined's side of Upgrade and Rollback for the machine API. A receive
// file left by a power cut in an earlier boot is removed first (EPHEMERAL is mounted by
// now: the API starts after Storage).
func (m *Machined) upgrades() *machineapi.Upgrades {
	if err := os.RemoveAll(upgradeTempDir); err != nil {
		m.Log.WithError(err).Warn("remove an earlier boot's partial upgrade image")
	}
	return &machineapi.Upgrades{
		TempDir: upgradeTempDir,
		OpenESP: m.openUpgradeESP,
		Record:  m.setBootStatus,
		Reboot:  func(why string) { m.requestPower(request{reboot: true, reason: why}) },
	}
}

// openUpgradeESP mounts the ESP and describes the running machine for upgrade.Verify. It
// refuses before the boot is ready: until the booted UKI is blessed, the fallback an
// upgrade keeps could be an untried image.
func (m *Machined) openUpgradeESP() (upgrade.Env, func(), error) {
	if !m.ready() {
		return upgrade.Env{}, nil, &upgrade.Error{Check: upgrade.CheckESP,
			Err: errors.New("the node has not reached ready in this boot: the booted UKI is not blessed yet; retry once kilnctl version answers and the ready event is out")}
	}
	key, err := runningPCRKey()
	if err != nil {
		return upgrade.Env{}, nil, err
	}
	done, err := openESP()
	if err != nil {
		return upgrade.Env{}, nil, &upgrade.Error{Check: upgrade.CheckESP, Err: err}
	}
	linuxDir := filepath.Join(espMount, upgrade.LinuxDir)
	booted, err := bootedName(efivar.EfivarsDir, linuxDir, version.Version)
	if err != nil {
		done()
		return upgrade.Env{}, nil, &upgrade.Error{Check: upgrade.CheckESP, Err: err}
	}
	return upgrade.Env{EfivarsDir: efivar.EfivarsDir, ESPDir: espMount, Booted: booted, RunningVersion: version.Version,
		RunningPCRKey: key, OSID: osReleaseID(osRelease)}, done, nil
}

func (m *Machined) ready() bool {
	r, err := m.Resources.Get(resources.NamespaceRuntime, resources.TypeMachineStatus, resources.MachineStatusID)
	if err != nil {
		return false
	}
	spec, _ := r.Spec.(*resources.MachineStatusSpec)
	return spec != nil && spec.Ready
}

// runningPCRKey is the booted UKI's .pcrpkey as stage 1 handed it over; nil if it had none.
func runningPCRKey() ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(os.Getenv(stage1.PCRPublicKeyEnv))
	if err != nil {
		return nil, fmt.Errorf("stage 1 handed over a corrupt %s: %w", stage1.PCRPublicKeyEnv, err)
	}
	if len(key) == 0 {
		return nil, nil
	}
	return key, nil
}

// osReleaseID reads ID from an os-release file; entry.OSID if it cannot.
func osReleaseID(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return entry.OSID
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "ID="); ok {
			return strings.Trim(v, `"'`)
		}
	}
	return entry.OSID
}

// bootedName finds the booted UKI's current file name in linuxDir: the entry
// LoaderBootCountPath names (under its blessed name once blessed), else the one
// LoaderEntrySelected names, else the Kiln UKI of the running version.
func bootedName(efivars, linuxDir, running string) (string, error) {
	if p, err := efivar.LoaderBootCountPath(efivars); err == nil {
		name, err := entry.NameFromBootCountPath(p)
		if err != nil {
			return "", err
		}
		if e, err := entry.Parse(name); err == nil && e.Counting {
			if _, err := os.Stat(filepath.Join(linuxDir, e.Blessed())); err == nil {
				return e.Blessed(), nil
			}
		}
		return name, nil
	}
	if id, err := efivar.LoaderEntrySelected(efivars); err == nil && id != "" && !strings.ContainsAny(id, `/\`) {
		if _, err := os.Stat(filepath.Join(linuxDir, id)); err == nil {
			return id, nil
		}
	}
	des, err := os.ReadDir(linuxDir)
	if err != nil {
		return "", err
	}
	for _, de := range des {
		if e, err := entry.Parse(de.Name()); err == nil && strings.HasPrefix(de.Name(), entry.Prefix) && e.Version == running {
			return de.Name(), nil
		}
	}
	return "", fmt.Errorf("%w: neither LoaderBootCountPath nor LoaderEntrySelected names a file in %s, and no UKI there is version %s",
		upgrade.ErrBootedMissing, linuxDir, running)
}

// setBootStatus changes runtime/BootStatus.
func (m *Machined) setBootStatus(change func(*resources.BootStatusSpec)) {
	_, err := m.Resources.Modify(context.Background(), resources.NamespaceRuntime, resources.TypeBootStatus, resources.BootStatusID, owner,
		func(current any) (any, error) {
			spec, _ := current.(*resources.BootStatusSpec)
			if spec == nil {
				spec = &resources.BootStatusSpec{Version: version.Version}
			}
			change(spec)
			return spec, nil
		})
	if err != nil {
		m.Log.WithError(err).Warn("publish runtime/BootStatus")
	}
}

// espAtBoot is the Ready phase's work on the mounted ESP's EFI/Linux, in order:
//
//  1. upgrade.Cleanup removes what an interrupted upgrade left (event "upgrade-cleanup");
//  2. upgrade.Inspect, before blessing or pruning, finds a newer UKI that was tried and
//     not booted: an upgrade that fell back (event "upgrade", state "fellBack");
//  3. bless the booted UKI (countPath is LoaderBootCountPath, "" when the boot was not
//     counted) and prune old UKIs;
//  4. the booted and the standby UKI for runtime/BootStatus.
//
// Only a failed bless fails the boot: the rest is reported.
type espAtBoot struct {
	linuxDir  string
	countPath string
	booted    string // the booted UKI's file name before blessing
	version   string
	emit      func(events.Event)
	log       logrus.FieldLogger
}

func (b espAtBoot) run() (blessed string, status resources.BootStatusSpec, err error) {
	status.Version = b.version
	removed, err := upgrade.Cleanup(b.linuxDir)
	switch {
	case err != nil:
		b.log.WithError(err).Error("clean up after an interrupted upgrade")
		b.emit(events.Event{Type: events.TypeInfo, Name: "upgrade-cleanup", State: events.StateFailed, Error: err.Error()})
	case len(removed) > 0:
		b.log.WithField("removed", removed).Warn("removed what an interrupted upgrade left on the ESP")
		b.emit(events.Event{Type: events.TypeInfo, Name: "upgrade-cleanup", State: events.StateDone,
			Fields: map[string]string{"removed": strings.Join(removed, ",")}})
	}
	if before, err := upgrade.Inspect(b.linuxDir, b.booted); err == nil && before.Failed != "" {
		status.FellBack, status.FailedEntry, status.FailedVersion = true, before.Failed, versionOf(before.Failed)
		b.log.WithField("failed", before.Failed).Warn("an upgrade fell back: the newer UKI did not boot")
		b.emit(events.Event{Type: events.TypeInfo, Name: "upgrade", State: "fellBack", Fields: map[string]string{
			"failedEntry": before.Failed, "failedVersion": status.FailedVersion, "booted": b.booted, "version": b.version}})
	}
	booted := b.booted
	if b.countPath != "" {
		if blessed, err = entry.Bless(b.linuxDir, b.countPath); err != nil {
			return "", status, err
		}
		booted = blessed
		removed, err := entry.Prune(b.linuxDir, keepEntries, blessed)
		if err != nil {
			b.log.WithError(err).Warn("prune old UKIs")
		}
		b.log.WithFields(logrus.Fields{"entry": blessed, "removed": removed}).Info("boot blessed")
	}
	if after, err := upgrade.Inspect(b.linuxDir, booted); err == nil {
		status.Booted, status.Standby, status.StandbyVersion = after.Booted, after.Standby, versionOf(after.Standby)
	} else {
		status.Booted = booted
	}
	return blessed, status, nil
}

func versionOf(name string) string {
	e, err := entry.Parse(name)
	if err != nil {
		return ""
	}
	return e.Version
}
