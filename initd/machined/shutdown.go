package machined

import (
	"bufio"
	"context"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kiln-os/kiln/initd/events"
	"github.com/kiln-os/kiln/initd/power"
)

// Bounds of the shutdown: the whole of it must fit in what a hypervisor or an operator
// waits for after pressing the button.
const (
	serviceStopBudget = 20 * time.Second
	killGrace         = 2 * time.Second
)

func (m *Machined) watchPowerButtons(ctx context.Context, out chan<- request) {
	// The ACPI button driver may bind after machined starts; look again for a while.
	for attempt := 0; attempt < 20; attempt++ {
		if buttons := power.FindButtons("/sys/class/input", "/dev/input"); len(buttons) > 0 {
			for _, dev := range buttons {
				go m.watchButton(ctx, dev, out)
			}
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(500 * time.Millisecond):
		}
	}
	m.Log.Warn("no ACPI power button found; shut down with SIGTERM")
}

func (m *Machined) watchButton(ctx context.Context, dev string, out chan<- request) {
	f, err := os.Open(dev)
	if err != nil {
		m.Log.WithError(err).WithField("device", dev).Warn("power button")
		return
	}
	defer f.Close()
	m.Log.WithField("device", dev).Info("watching the power button")
	pressed := make(chan struct{})
	go func() {
		err := power.Watch(ctx, f, pressed)
		m.Log.WithError(err).WithField("device", dev).Debug("power button watch ended")
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-pressed:
			out <- request{reason: "power button"}
		}
	}
}

// shutdown stops services in reverse order, kills what is left, syncs, makes every
// filesystem read-only and returns the ShutdownError that PID 1's exit path performs.
func (m *Machined) shutdown(req request) error {
	state := events.StateShutdown
	if req.reboot {
		state = events.StateReboot
	}
	m.emit(events.Event{Type: events.TypeBoot, Name: "machined", State: state, Fields: map[string]string{"reason": req.reason}})
	if sup := m.services.Supervisor(); sup != nil {
		ctx, cancel := context.WithTimeout(context.Background(), serviceStopBudget)
		if err := sup.Stop(ctx); err != nil {
			m.Log.WithError(err).Warn("services did not stop in time")
		}
		cancel()
	}
	m.releaseWatchdog(false)
	m.killAll()
	unix.Sync()
	m.remountReadOnly()
	m.closeState()
	if req.wipeState || req.wipeEphemeral {
		m.wipe(req)
	}
	m.emit(events.Event{Type: events.TypeBoot, Name: "machined", State: events.StateStopped, Fields: uptimeField()})
	m.Sink.Close(2 * time.Second)
	return &ShutdownError{Reboot: req.reboot, Reason: req.reason}
}

// killAll sends SIGTERM, then SIGKILL, to every process but PID 1; the reaper collects them.
func (m *Machined) killAll() {
	if len(userProcesses("/proc")) == 0 {
		return
	}
	unix.Kill(-1, unix.SIGTERM)
	deadline := time.Now().Add(killGrace)
	for time.Now().Before(deadline) {
		if len(userProcesses("/proc")) == 0 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	left := userProcesses("/proc")
	m.Log.WithField("pids", left).Warn("processes ignored SIGTERM; killing")
	unix.Kill(-1, unix.SIGKILL)
}

// userProcesses lists live user-space processes other than this one. Kernel threads and
// zombies have an empty cmdline, which is how they are told apart (kill(-1, 0) cannot: it
// counts kernel threads).
func userProcesses(proc string) []int {
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

// remountReadOnly makes every block-backed filesystem read-only, innermost first, so that
// nothing is lost when the power goes.
func (m *Machined) remountReadOnly() {
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
			m.Log.WithError(err).WithField("target", mnt.target).Warn("cannot make read-only")
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
