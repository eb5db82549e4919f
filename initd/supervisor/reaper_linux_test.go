package supervisor

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"
	"golang.org/x/sys/unix"
)

// startReaper makes the test process a child subreaper, so that orphans come to it as
// they come to PID 1, and runs a Reaper until the test ends. Tests using it must not run
// in parallel with tests that wait for their own children.
func startReaper(t *testing.T) (*Reaper, *test.Hook) {
	t.Helper()
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Fatalf("prctl(PR_SET_CHILD_SUBREAPER): %v", err)
	}
	log, hook := test.NewNullLogger()
	log.SetLevel(logrus.DebugLevel)
	reaper := NewReaper(log)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		reaper.Run(ctx)
		close(done)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		reaper.Reap()
		_ = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
	})
	return reaper, hook
}

// gone says whether pid no longer exists, not even as a zombie.
func gone(pid int) bool {
	_, err := os.Stat(fmt.Sprintf("/proc/%d", pid))
	return errors.Is(err, fs.ErrNotExist)
}

func sh(script string) []string { return []string{"/bin/sh", "-c", script} }

func TestReaperDispatchesExitStatus(t *testing.T) {
	reaper, _ := startReaper(t)
	scripts := []string{"exit 0", "exit 1", "exit 2", "exit 3", "exit 4", "exit 5", "kill -9 $$"}
	var children []*Child
	for _, script := range scripts {
		child, err := reaper.Start("/bin/sh", sh(script), &os.ProcAttr{})
		if err != nil {
			t.Fatal(err)
		}
		children = append(children, child)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for code, child := range children {
		err := child.Wait(ctx)
		var exitErr *ExitError
		switch {
		case code == 0:
			if err != nil {
				t.Errorf("%q: %v, want nil", scripts[code], err)
			}
		case code == len(scripts)-1:
			if !errors.As(err, &exitErr) || !exitErr.Status.Signaled() || !strings.Contains(err.Error(), "killed by signal killed") {
				t.Errorf("%q: %v, want killed by SIGKILL", scripts[code], err)
			}
		default:
			if !errors.As(err, &exitErr) || exitErr.ExitCode() != code || exitErr.Pid != child.Pid {
				t.Errorf("%q: %v, want exit status %d of pid %d", scripts[code], err, code, child.Pid)
			}
		}
		if !gone(child.Pid) {
			t.Errorf("pid %d still exists after its exit was reported", child.Pid)
		}
	}
}

func TestReaperReapsOrphans(t *testing.T) {
	reaper, hook := startReaper(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// The shell leaves a grandchild behind; it is re-parented to us, the subreaper.
	child, err := reaper.Start("/bin/sh", sh("sleep 0.1 & echo $!"), &os.ProcAttr{Files: []*os.File{nil, w, w}})
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	orphan, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("orphan pid %q: %v", line, err)
	}
	if err := child.Wait(context.Background()); err != nil {
		t.Fatalf("child: %v", err)
	}

	waitUntil(t, "the orphan to be reaped", func() bool { return gone(orphan) })
	waitUntil(t, "the orphan to be logged", func() bool {
		for _, entry := range hook.AllEntries() {
			if entry.Message == "reaped orphan" && entry.Data["pid"] == orphan {
				return true
			}
		}
		return false
	})
}
