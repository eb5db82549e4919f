package supervisor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// Child is a started process whose exit is reported once, by whoever owns the waiting.
type Child struct {
	Pid int

	done   chan struct{}
	status unix.WaitStatus // valid once done is closed
	err    error           // the wait itself went wrong; valid once done is closed
}

func newChild(pid int) *Child {
	return &Child{Pid: pid, done: make(chan struct{})}
}

// exit records the exit status; it is called exactly once.
func (c *Child) exit(status unix.WaitStatus, err error) {
	c.status, c.err = status, err
	close(c.done)
}

// Done is closed when the process has exited and has been reaped.
func (c *Child) Done() <-chan struct{} { return c.done }

// Err returns nil while the process runs or after it exited with status 0, otherwise an
// *ExitError (or the error of the wait itself).
func (c *Child) Err() error {
	select {
	case <-c.done:
	default:
		return nil
	}
	if c.err != nil {
		return c.err
	}
	if c.status.Exited() && c.status.ExitStatus() == 0 {
		return nil
	}
	return &ExitError{Pid: c.Pid, Status: c.status}
}

// Wait blocks until the process exits or ctx ends, and returns Err or ctx's error.
func (c *Child) Wait(ctx context.Context) error {
	select {
	case <-c.done:
		return c.Err()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ExitError is a process that exited with a non-zero status or was killed by a signal.
type ExitError struct {
	Pid    int
	Status unix.WaitStatus
}

func (e *ExitError) Error() string {
	if e.Status.Signaled() {
		return fmt.Sprintf("pid %d: killed by signal %s", e.Pid, e.Status.Signal())
	}
	return fmt.Sprintf("pid %d: exit status %d", e.Pid, e.Status.ExitStatus())
}

// ExitCode is the exit status, or -1 when a signal killed the process.
func (e *ExitError) ExitCode() int { return e.Status.ExitStatus() }

// starter starts a process and arranges for its exit to be reported to the Child.
type starter interface {
	Start(path string, argv []string, attr *os.ProcAttr) (*Child, error)
}

// selfWaiter waits for each child's own pid. Only for processes that are not PID 1 and
// run no Reaper.
type selfWaiter struct{}

func (selfWaiter) Start(path string, argv []string, attr *os.ProcAttr) (*Child, error) {
	proc, err := os.StartProcess(path, argv, attr)
	if err != nil {
		return nil, err
	}
	child := newChild(proc.Pid)
	go func() {
		state, err := proc.Wait()
		if err != nil {
			child.exit(0, fmt.Errorf("wait for pid %d: %w", child.Pid, err))
			return
		}
		status, _ := state.Sys().(syscall.WaitStatus) // always so on unix
		child.exit(unix.WaitStatus(status), nil)
	}()
	return child, nil
}

// Reaper owns all child waiting of the process (see the package doc).
type Reaper struct {
	log logrus.FieldLogger

	mu       sync.Mutex
	children map[int]*Child
}

// NewReaper returns a Reaper; nothing is reaped until Run or Reap is called.
func NewReaper(log logrus.FieldLogger) *Reaper {
	return &Reaper{log: log, children: map[int]*Child{}}
}

// Start starts a process and registers it before any wait can collect it.
func (r *Reaper) Start(path string, argv []string, attr *os.ProcAttr) (*Child, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	proc, err := os.StartProcess(path, argv, attr)
	if err != nil {
		return nil, err
	}
	child := newChild(proc.Pid)
	r.children[proc.Pid] = child
	// The reaper reports the exit; the handle (a pidfd) is not needed for that.
	_ = proc.Release()
	return child, nil
}

// Run reaps on every SIGCHLD until ctx ends.
func (r *Reaper) Run(ctx context.Context) {
	sigchld := make(chan os.Signal, 1)
	signal.Notify(sigchld, unix.SIGCHLD)
	defer signal.Stop(sigchld)
	r.Reap() // children that exited before Notify took effect
	for {
		select {
		case <-ctx.Done():
			return
		case <-sigchld:
			// Signals coalesce: one SIGCHLD may stand for many exits, so Reap drains all.
			r.Reap()
		}
	}
}

// Reap collects every exited child without blocking, hands registered ones their status
// and returns how many orphans it reaped.
func (r *Reaper) Reap() int {
	orphans := 0
	for {
		var status unix.WaitStatus
		pid, err := unix.Wait4(-1, &status, unix.WNOHANG, nil)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.ECHILD):
			return orphans
		case err != nil:
			r.log.WithError(os.NewSyscallError("wait4", err)).Warn("reaping stopped")
			return orphans
		case pid <= 0:
			return orphans
		}
		if !r.dispatch(pid, status) {
			orphans++
		}
	}
}

// dispatch reports the status to the registered Child and says whether there was one.
func (r *Reaper) dispatch(pid int, status unix.WaitStatus) bool {
	r.mu.Lock()
	child, ok := r.children[pid]
	delete(r.children, pid)
	r.mu.Unlock()
	if !ok {
		r.log.WithFields(logrus.Fields{"pid": pid, "status": describeStatus(status)}).Debug("reaped orphan")
		return false
	}
	child.exit(status, nil)
	return true
}

func describeStatus(status unix.WaitStatus) string {
	if status.Signaled() {
		return "signal " + status.Signal().String()
	}
	return fmt.Sprintf("exit %d", status.ExitStatus())
}
