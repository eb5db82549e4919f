package cgroup

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kiln-os/kiln/initd/cgroup/cgrouptest"
)

func setUp(t *testing.T, initPID int) *Tree {
	t.Helper()
	tree := New(cgrouptest.Root(t))
	if err := tree.Setup(initPID); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tree.Close() })
	return tree
}

// startSleeper starts sleep, waited for when the test ends.
func startSleeper(t *testing.T, sys *syscall.SysProcAttr, argv ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = sys
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd
}

func cgroupOf(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cgroup"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if path, ok := strings.CutPrefix(line, "0::"); ok {
			return path
		}
	}
	t.Fatalf("pid %d has no cgroup2 line in %q", pid, b)
	return ""
}

// waitPidFile waits for a shell to write a pid into path.
func waitPidFile(t *testing.T, path string) int {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		b, err := os.ReadFile(path)
		if pid, convErr := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && convErr == nil {
			return pid
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no pid in %s after 5s", path)
	return 0
}

// procState is the state letter of pid (R, S, Z, ...), or "" once it is gone.
func procState(pid int) string {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return ""
	}
	_, after, _ := strings.Cut(string(b), ") ")
	state, _, _ := strings.Cut(after, " ")
	return state
}

func TestSetupMovesInitIntoALeaf(t *testing.T) {
	sleeper := startSleeper(t, nil, "sleep", "30")
	tree := setUp(t, sleeper.Process.Pid)

	got := cgroupOf(t, sleeper.Process.Pid)
	if !strings.HasSuffix(got, "/"+KilnDir+"/"+InitDir) {
		t.Errorf("init pid in cgroup %s, want .../%s/%s", got, KilnDir, InitDir)
	}
	for _, dir := range []string{KilnDir, filepath.Join(KilnDir, ServicesDir)} {
		procs, err := os.ReadFile(filepath.Join(tree.Root(), dir, "cgroup.procs"))
		if err != nil || len(procs) != 0 {
			t.Errorf("%s has processes %q (%v), want none (no internal processes)", dir, procs, err)
		}
	}
	// A second Setup (a test, or a re-exec) reuses the tree.
	if err := tree.Setup(0); err != nil {
		t.Errorf("second Setup: %v", err)
	}
}

func TestSetupRefusesANonCgroup2Root(t *testing.T) {
	dir := t.TempDir()
	err := New(dir).Setup(0)
	if err == nil || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "not a cgroup2 mount") {
		t.Errorf("Setup on %s = %v, want an error naming it as not cgroup2", dir, err)
	}
}

func TestServiceBeforeSetup(t *testing.T) {
	if _, err := New(t.TempDir()).Service(context.Background(), "apid"); !errors.Is(err, ErrNotSetUp) {
		t.Errorf("Service before Setup = %v, want ErrNotSetUp", err)
	}
}

func TestServiceRefusesNamesOutsideItsDirectory(t *testing.T) {
	tree := setUp(t, 0)
	for _, name := range []string{"", ".", "..", "../init", "a/b", "cgroup.kill", "Apid", strings.Repeat("a", 65)} {
		if _, err := tree.Service(context.Background(), name); !errors.Is(err, ErrInvalidName) {
			t.Errorf("Service(%q) = %v, want ErrInvalidName", name, err)
		}
	}
}

// TestKillTakesProcessesThatLeftTheSession: a process started into the cgroup forks a
// child that calls setsid and double-forks away from it; Kill still ends it.
func TestKillTakesProcessesThatLeftTheSession(t *testing.T) {
	tree := setUp(t, 0)
	group, err := tree.Service(context.Background(), "escaper")
	if err != nil {
		t.Fatal(err)
	}
	pidFile := filepath.Join(t.TempDir(), "escaped")
	sys := &syscall.SysProcAttr{Setpgid: true, UseCgroupFD: true, CgroupFD: group.FD()}
	main := startSleeper(t, sys, "/bin/sh", "-c", `(setsid sh -c 'sleep 30 & echo $! > `+pidFile+`' &); exec sleep 30`)
	escaped := waitPidFile(t, pidFile)
	if got := cgroupOf(t, escaped); got != cgroupOf(t, main.Process.Pid) || !strings.HasSuffix(got, "/escaper") {
		t.Fatalf("escaped pid %d in %s, want the service's cgroup", escaped, got)
	}
	if populated, err := group.Populated(); err != nil || !populated {
		t.Fatalf("Populated = %v, %v; want true", populated, err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := group.Kill(ctx); err != nil {
		t.Fatal(err)
	}
	if populated, err := group.Populated(); err != nil || populated {
		t.Errorf("after Kill Populated = %v, %v; want false", populated, err)
	}
	if err := group.Remove(ctx); err != nil {
		t.Errorf("Remove after Kill: %v", err)
	}
	if _, err := os.Stat(group.Path()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("cgroup %s still there after Remove (%v)", group.Path(), err)
	}
	if err := syscall.Kill(escaped, 0); err == nil {
		// Still there only as a zombie, which its new parent reaps.
		if state := procState(escaped); state != "Z" && state != "" {
			t.Errorf("escaped pid %d survived cgroup.kill in state %s", escaped, state)
		}
	}
}

// TestKilledCgroupIsNotReused: a cgroup that was killed and could not be removed (a run
// whose Stop failed half-way) is replaced by the next Service call, and the next run's
// process lives. On kernels with the kill_seq fork check (the host's 6.18), a process
// cloned into the killed cgroup itself would be SIGKILLed at birth.
func TestKilledCgroupIsNotReused(t *testing.T) {
	tree := setUp(t, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	first, err := tree.Service(ctx, "apid")
	if err != nil {
		t.Fatal(err)
	}
	startSleeper(t, &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: first.FD()}, "sleep", "30")
	if err := first.Kill(ctx); err != nil {
		t.Fatal(err)
	}
	// No Remove: the leftover stays.

	second, err := tree.Service(ctx, "apid")
	if err != nil {
		t.Fatalf("Service over a killed leftover: %v", err)
	}
	next := startSleeper(t, &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: second.FD()}, "sleep", "30")
	time.Sleep(100 * time.Millisecond)
	if state := procState(next.Process.Pid); state == "" || state == "Z" {
		t.Fatalf("the next run's process died at birth (state %q)", state)
	}
	if got := cgroupOf(t, next.Process.Pid); !strings.HasSuffix(got, "/services/apid") {
		t.Errorf("next run in cgroup %s, want .../services/apid", got)
	}
}
