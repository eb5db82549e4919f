package machined

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/kiln-os/kiln/initd/events"
	"github.com/kiln-os/kiln/initd/hardening"
	"github.com/kiln-os/kiln/initd/mount"
	"github.com/kiln-os/kiln/initd/phase"
)

func (m *Machined) checkCmdline(ctx context.Context, log logrus.FieldLogger) error {
	if err := hardening.CheckCmdline("/proc/cmdline"); err != nil {
		return err
	}
	cmdline, _ := os.ReadFile("/proc/cmdline")
	m.emit(events.Event{Type: events.TypeInfo, Name: "kspp-cmdline", State: "enforced",
		Fields: map[string]string{"cmdline": strings.TrimSpace(string(cmdline))}})
	return nil
}

// writeSysctls writes the hardening sysctls, reads them back, and reports what it read so
// that a test outside the machine can compare it with the rule table.
func (m *Machined) writeSysctls(ctx context.Context, log logrus.FieldLogger) error {
	if err := hardening.ApplySysctls("/proc/sys", func(f string, a ...any) { log.Debugf(f, a...) }); err != nil {
		return err
	}
	m.emit(events.Event{Type: events.TypeInfo, Name: "kspp-sysctls", State: "enforced", Fields: hardening.ReadSysctls("/proc/sys")})
	return nil
}

// earlyMounts is the table of EarlyMounts: each group is one task, and the groups mount
// concurrently. Every mount point exists in the read-only root (rootfs.MountPoints) or on
// a filesystem mounted earlier in the same group.
var earlyMounts = []struct {
	task   string
	mounts []mount.Mount
}{
	{"MountRun", []mount.Mount{
		{Source: "tmpfs", Target: "/run", FSType: "tmpfs", Flags: mount.NoSuidDevExec, Data: "mode=0755"},
	}},
	{"MountSystem", []mount.Mount{
		{Source: "tmpfs", Target: "/system", FSType: "tmpfs", Flags: mount.NoSuidDevExec, Data: "mode=0700"},
	}},
	{"MountTmp", []mount.Mount{
		{Source: "tmpfs", Target: "/tmp", FSType: "tmpfs", Flags: mount.NoSuidDev, Data: "mode=1777"},
	}},
	{"MountDevPtsShm", []mount.Mount{
		{Source: "devpts", Target: "/dev/pts", FSType: "devpts", Flags: unix.MS_NOSUID | unix.MS_NOEXEC, Data: "mode=0620,ptmxmode=0666"},
		{Source: "tmpfs", Target: "/dev/shm", FSType: "tmpfs", Flags: mount.NoSuidDevExec, Data: "mode=1777"},
	}},
	{"MountCgroup2", []mount.Mount{
		{Source: "cgroup2", Target: "/sys/fs/cgroup", FSType: "cgroup2", Flags: mount.NoSuidDevExec, Data: "nsdelegate,memory_recursiveprot"},
	}},
	{"MountSecurityfs", []mount.Mount{
		{Source: "securityfs", Target: "/sys/kernel/security", FSType: "securityfs", Flags: mount.NoSuidDevExec},
	}},
	{"MountEfivarfs", []mount.Mount{
		{Source: "efivarfs", Target: "/sys/firmware/efi/efivars", FSType: "efivarfs", Flags: mount.NoSuidDevExec, Optional: true},
	}},
}

// earlyMountTasks runs each group as a task; the efivarfs task then reports Secure Boot and
// the securityfs task checks the firmware event log against the TPM.
func (m *Machined) earlyMountTasks() []phase.Task {
	tasks := make([]phase.Task, 0, len(earlyMounts))
	for _, group := range earlyMounts {
		tasks = append(tasks, phase.Task{
			Name: group.task,
			Run: func(ctx context.Context, log logrus.FieldLogger) error {
				if err := mount.All(group.mounts, func(f string, a ...any) { log.Infof(f, a...) }); err != nil {
					return err
				}
				switch group.task {
				case "MountEfivarfs":
					m.reportSecureBoot(log)
				case "MountSecurityfs":
					m.verifyEventLog()
				}
				return nil
			},
		})
	}
	return tasks
}

// settleUSB waits until the set of USB devices stops changing for a second, so that a USB
// install disk is there before storage is looked at. A machine without USB returns at once;
// the task's timeout bounds a bus that never settles.
func settleUSB(ctx context.Context, log logrus.FieldLogger) error {
	const dir = "/sys/bus/usb/devices"
	if _, err := os.Stat(dir); err != nil {
		log.Info("no USB bus")
		return nil
	}
	const quiet = time.Second
	last, stableSince := -1, time.Now()
	for {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		if n := len(entries); n != last {
			last, stableSince = n, time.Now()
		} else if time.Since(stableSince) >= quiet {
			log.WithField("devices", n).Info("USB settled")
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("USB did not settle: %w", ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}
