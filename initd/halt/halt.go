// Package halt is the end of PID 1's shutdown, after the services have stopped: every
// process left gets SIGTERM, then SIGKILL, and every block-backed filesystem is unmounted
// or made read-only, so that nothing is lost when the power goes.
//
// The room: the last steps before reboot(2). It must not stop services (the supervisor
// does), touch STATE's mapping or wipe anything (package disks does), or call reboot
// itself: PID 1's exit path does.
package halt

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// KillGrace is how long processes have between SIGTERM and SIGKILL.
const KillGrace = 2 * time.Second

// KillAll sends SIGTERM, then SIGKILL, to every process but PID 1; the reaper collects them.
func KillAll(log logrus.FieldLogger) {
	if len(UserProcesses("/proc")) == 0 {
		return
	}
	unix.Kill(-1, unix.SIGTERM)
	deadline := time.Now().Add(KillGrace)
	for time.Now().Before(deadline) {
		if len(UserProcesses("/proc")) == 0 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	left := UserProcesses("/proc")
	log.WithField("pids", left).Warn("processes ignored SIGTERM; killing")
	unix.Kill(-1, unix.SIGKILL)
}

// UserProcesses lists live user-space processes other than this one. Kernel threads and
// zombies have an empty cmdline, which is how they are told apart (kill(-1, 0) cannot: it
// counts kernel threads).
func UserProcesses(proc string) []int {
	entries, _ := os.ReadDir(proc)
	self := os.Getpid()
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		cmdline, err := os.ReadFile(proc + "/" + e.Name() + "/cmdline")
		if err == nil && len(cmdline) > 0 {
			pids = append(pids, pid)
		}
	}
	return pids
}

// RemountReadOnly makes every block-backed filesystem read-only, innermost first, so that
// nothing is lost when the power goes.
func RemountReadOnly(log logrus.FieldLogger) {
	mounts := readMounts("/proc/self/mounts")
	for i := len(mounts) - 1; i >= 0; i-- {
		mnt := mounts[i]
		if !strings.HasPrefix(mnt.source, "/dev/") {
			continue
		}
		if err := unix.Unmount(mnt.target, 0); err == nil {
			continue
		}
		if err := unix.Mount("", mnt.target, "", unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
			log.WithError(err).WithField("target", mnt.target).Warn("cannot make read-only")
		}
	}
}

type mountEntry struct{ source, target string }

func readMounts(path string) []mountEntry {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []mountEntry
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 {
			out = append(out, mountEntry{source: fields[0], target: fields[1]})
		}
	}
	return out
}
