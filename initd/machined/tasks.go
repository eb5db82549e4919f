package machined

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/kiln-os/kiln/initd/events"
	"github.com/kiln-os/kiln/initd/hardening"
	"github.com/kiln-os/kiln/initd/mount"
	"github.com/kiln-os/kiln/initd/phase"
)

// Phase tasks are free functions over what each needs (the event sink, a path, the
// store); machined only wires them into the table (phases).

// taskFunc is a phase task's body.
type taskFunc = func(ctx context.Context, log logrus.FieldLogger) error

// checkCmdline checks the kernel command line at path against KSPP and reports it.
func checkCmdline(path string, emit func(events.Event)) taskFunc {
	return func(ctx context.Context, log logrus.FieldLogger) error {
		if err := hardening.CheckCmdline(path); err != nil {
			return err
		}
		cmdline, _ := os.ReadFile(path)
		emit(events.Event{Type: events.TypeInfo, Name: "kspp-cmdline", State: "enforced",
			Fields: map[string]string{"cmdline": strings.TrimSpace(string(cmdline))}})
		return nil
	}
}

// writeSysctls writes the hardening sysctls under procSys, reads them back, and reports
// what it read so that a test outside the machine can compare it with the rule table.
func writeSysctls(procSys string, emit func(events.Event)) taskFunc {
	return func(ctx context.Context, log logrus.FieldLogger) error {
		if err := hardening.ApplySysctls(procSys, func(f string, a ...any) { log.Debugf(f, a...) }); err != nil {
			return err
		}
		emit(events.Event{Type: events.TypeInfo, Name: "kspp-sysctls", State: "enforced", Fields: hardening.ReadSysctls(procSys)})
		return nil
	}
}

// earlyMounts is the table of EarlyMounts: each group is one task, and the groups mount
// concurrently. Every mount point exists in the read-only root (rootfs.MountPoints) or on
// a filesystem mounted earlier in the same group.
//
// Every tmpfs is noexec (nothing in the image runs from one: services are /sbin/init, and
// the binaries containers run come from their own filesystems) and has a size= and an
// nr_inodes= bound (mount.Do refuses one without): tmpfs pages live in RAM, and an
// unbounded tmpfs defaults to half of it. The limits are maxima, not reservations. They
// leave room to grow, and together (about 160 MiB with /var on disk) stay well under the
// 512 MiB of the smallest e2e machine:
//   - /run 64 MiB: sockets, the service users' certificates, resolv.conf, the watchdog
//     mark, and later containerd's and runc's per-container state (small files).
//   - /system 16 MiB: root-only; resolv.conf and, on a diskless node, STATE itself (a
//     config of at most 1 MiB and the node PKI).
//   - /tmp 64 MiB: world-writable scratch that no Kiln program uses; bounded so that a
//     service user cannot fill RAM through it, noexec so it cannot stage a binary.
//   - /dev/shm 16 MiB: world-writable too; machined's Go services use no POSIX shared
//     memory, and containers get their own /dev/shm.
var earlyMounts = []struct {
	task   string
	mounts []mount.Mount
}{
	{"MountRun", []mount.Mount{
		{Source: "tmpfs", Target: "/run", FSType: "tmpfs", Flags: mount.NoSuidDevExec, Data: "mode=0755,size=64m,nr_inodes=16k"},
	}},
	{"MountSystem", []mount.Mount{
		{Source: "tmpfs", Target: "/system", FSType: "tmpfs", Flags: mount.NoSuidDevExec, Data: "mode=0700,size=16m,nr_inodes=4k"},
	}},
	{"MountTmp", []mount.Mount{
		{Source: "tmpfs", Target: "/tmp", FSType: "tmpfs", Flags: mount.NoSuidDevExec, Data: "mode=1777,size=64m,nr_inodes=16k"},
	}},
	{"MountDevPtsShm", []mount.Mount{
		{Source: "devpts", Target: "/dev/pts", FSType: "devpts", Flags: unix.MS_NOSUID | unix.MS_NOEXEC, Data: "mode=0620,ptmxmode=0666"},
		{Source: "tmpfs", Target: "/dev/shm", FSType: "tmpfs", Flags: mount.NoSuidDevExec, Data: "mode=1777,size=16m,nr_inodes=4k"},
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

// earlyMountTasks runs each group as a task; after[task], if set, runs once that group is
// mounted (efivarfs: report Secure Boot; securityfs: check the firmware event log;
// cgroup2: the services' cgroup tree), and its error fails the task.
func earlyMountTasks(after map[string]func(logrus.FieldLogger) error) []phase.Task {
	tasks := make([]phase.Task, 0, len(earlyMounts))
	for _, group := range earlyMounts {
		tasks = append(tasks, phase.Task{
			Name: group.task,
			Run: func(ctx context.Context, log logrus.FieldLogger) error {
				if err := mount.All(group.mounts, func(f string, a ...any) { log.Infof(f, a...) }); err != nil {
					return err
				}
				if then := after[group.task]; then != nil {
					return then(log)
				}
				return nil
			},
		})
	}
	return tasks
}

// settleUSB waits until the set of USB devices stops changing for a second, so that a USB
// install disk is there before storage is looked at. A machine without a USB host
// controller returns at once: every host controller registers a root hub (usbN) as it
// probes, which built-in drivers finish before /init starts, so no root hub means no USB
// device can appear. The task's timeout bounds a bus that never settles.
func settleUSB(ctx context.Context, log logrus.FieldLogger) error {
	return settleUSBIn(ctx, log, "/sys/bus/usb/devices")
}

func settleUSBIn(ctx context.Context, log logrus.FieldLogger, dir string) error {
	if roots, _ := filepath.Glob(filepath.Join(dir, "usb[0-9]*")); len(roots) == 0 {
		log.Info("no USB host controller")
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
