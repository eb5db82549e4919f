package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kiln-os/kiln/initd/cgroup"
)

// DefaultStopTimeout is how long a process has between SIGTERM and SIGKILL by default.
const DefaultStopTimeout = 10 * time.Second

// killWait bounds the wait for a process to be reaped after SIGKILL; only a process stuck
// in the kernel (state D) takes longer.
const killWait = 5 * time.Second

// ProcessSpec describes a service that is one command.
type ProcessSpec struct {
	Name      string
	DependsOn []string
	Argv      []string // Argv[0] is looked up in PATH unless it contains a slash
	Env       []string // nil inherits machined's environment
	Dir       string
	// Credential, when set, runs the process as that uid/gid with no supplementary groups
	// and NoNewPrivs semantics left to the binary; nil runs it as machined's user (root).
	Credential *syscall.Credential
	// Output receives stdout and stderr; nil discards them. A slow sink blocks the
	// process once the pipe is full, so it should buffer (a ring buffer, not a console).
	// A sink shared by several services must be safe for concurrent use.
	Output io.Writer
	// Health checks the service beyond "its process runs"; nil means running is healthy.
	Health      func(ctx context.Context) error
	StopTimeout time.Duration // SIGTERM to SIGKILL; DefaultStopTimeout when zero
	// StartTimeout, when set, replaces the supervisor's StartTimeout for this service
	// (Kubernetes' API server takes minutes to be ready under emulation).
	StartTimeout time.Duration
	// FailureThreshold, when set, replaces the supervisor's FailureThreshold for this
	// service: how many failed checks in a row restart it once it was healthy (a busy API
	// server misses a few checks; restarting it makes it busier).
	FailureThreshold int
	// Reaper collects the exit status. PID 1 must set it (see the package doc); nil makes
	// the service wait for its own pid.
	Reaper *Reaper
	// Cgroups, when set, starts the process inside the service's own cgroup
	// (Cgroups.Service(Name)) and makes Stop kill that whole cgroup, so that nothing the
	// service forked outlives it, not even a process that left its process group or
	// session. PID 1 sets it; nil (tests without cgroup2) kills the process group only.
	Cgroups *cgroup.Tree
}

// ProcessService runs a ProcessSpec in its own process group. It is safe for concurrent
// use; Start after an exit starts a new process.
type ProcessService struct {
	spec    ProcessSpec
	starter starter

	mu    sync.Mutex
	child *Child        // the process of the last Start
	group *cgroup.Group // the service's cgroup, opened at the first Start; nil without Cgroups
}

// NewProcess checks the spec and returns the service.
func NewProcess(spec ProcessSpec) (*ProcessService, error) {
	if spec.Name == "" {
		return nil, errors.New("supervisor: process service has no name")
	}
	if len(spec.Argv) == 0 {
		return nil, fmt.Errorf("service %s: empty Argv", spec.Name)
	}
	if spec.Cgroups != nil {
		if err := cgroup.ValidName(spec.Name); err != nil {
			return nil, fmt.Errorf("service %s: %w", spec.Name, err)
		}
	}
	if spec.StopTimeout <= 0 {
		spec.StopTimeout = DefaultStopTimeout
	}
	p := &ProcessService{spec: spec, starter: selfWaiter{}}
	if spec.Reaper != nil {
		p.starter = spec.Reaper
	}
	return p, nil
}

// Name returns the service name.
func (p *ProcessService) Name() string { return p.spec.Name }

// DependsOn returns the names of the services this one needs healthy first.
func (p *ProcessService) DependsOn() []string { return p.spec.DependsOn }

// Start starts the process; it does not tie the process's life to ctx.
func (p *ProcessService) Start(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.child != nil && !exited(p.child) {
		return fmt.Errorf("service %s: already running as pid %d", p.spec.Name, p.child.Pid)
	}
	path, err := exec.LookPath(p.spec.Argv[0])
	if err != nil {
		return err
	}
	if err := p.openGroup(ctx); err != nil {
		return err
	}
	child, err := p.spawn(path)
	if err != nil {
		return err
	}
	p.child = child
	return nil
}

// openGroup creates the cgroup of this run (replacing what an earlier run left), so that
// a service never starts beside leftovers of its last run. p.mu is held.
func (p *ProcessService) openGroup(ctx context.Context) error {
	if p.spec.Cgroups == nil {
		return nil
	}
	if p.group != nil { // a Start whose spawn failed: its cgroup never held a process
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, killWait)
	defer cancel()
	group, err := p.spec.Cgroups.Service(ctx, p.spec.Name)
	if err != nil {
		return fmt.Errorf("service %s: %w", p.spec.Name, err)
	}
	p.group = group
	return nil
}

// spawn starts the child with stdin on /dev/null and its output copied to the sink.
func (p *ProcessService) spawn(path string) (*Child, error) {
	devNull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	defer devNull.Close()
	stdout, out, err := p.outputPipe(devNull)
	if err != nil {
		return nil, err
	}
	attr := &os.ProcAttr{
		Dir:   p.spec.Dir,
		Env:   p.spec.Env,
		Files: []*os.File{devNull, stdout, stdout},
		Sys:   &syscall.SysProcAttr{Setpgid: true, Credential: p.spec.Credential},
	}
	if p.group != nil {
		// clone3(CLONE_INTO_CGROUP): the child is born in the cgroup, never outside it.
		attr.Sys.UseCgroupFD, attr.Sys.CgroupFD = true, p.group.FD()
	}
	child, err := p.starter.Start(path, p.spec.Argv, attr)
	if stdout != devNull {
		stdout.Close() // the child holds its own copy; EOF comes when the group closes it
	}
	if err != nil {
		if out != nil {
			out.Close()
		}
		return nil, err
	}
	if out != nil {
		go copyOutput(p.spec.Output, out)
	}
	return child, nil
}

// outputPipe returns the file the child writes to and the end machined reads from, or
// /dev/null and nil when there is no sink. A pipe is used rather than handing the sink to
// exec.Cmd, whose copying goroutines only finish in Cmd.Wait, which the Reaper replaces.
func (p *ProcessService) outputPipe(devNull *os.File) (*os.File, *os.File, error) {
	if p.spec.Output == nil {
		return devNull, nil, nil
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	return w, r, nil
}

func copyOutput(sink io.Writer, r *os.File) {
	defer r.Close()
	_, _ = io.Copy(sink, r) // a failing sink must not block or kill the service
}

// Stop sends SIGTERM to the process group, SIGKILL after StopTimeout (or when ctx ends),
// and waits until the process is reaped. SIGKILL goes to the group even when the main
// process exited on SIGTERM, so no grandchild survives the service. With Cgroups the
// SIGKILL is cgroup.kill on the service's cgroup, and Stop waits until the cgroup is
// empty: that takes also the processes that left the group with setsid.
func (p *ProcessService) Stop(ctx context.Context) error {
	child := p.current()
	if child == nil {
		return nil
	}
	if !exited(child) {
		if err := signalGroup(child.Pid, unix.SIGTERM); err != nil {
			return fmt.Errorf("service %s: %w", p.spec.Name, err)
		}
		timer := time.NewTimer(p.spec.StopTimeout)
		defer timer.Stop()
		select {
		case <-child.Done():
		case <-timer.C:
		case <-ctx.Done():
		}
	}
	if err := p.kill(child); err != nil {
		return err
	}
	if err := p.awaitKilled(child); err != nil {
		return err
	}
	return p.forget(child)
}

// kill SIGKILLs everything of the service: its cgroup when it has one, else its process
// group.
func (p *ProcessService) kill(child *Child) error {
	p.mu.Lock()
	group := p.group
	p.mu.Unlock()
	if group == nil {
		if err := signalGroup(child.Pid, unix.SIGKILL); err != nil {
			return fmt.Errorf("service %s: %w", p.spec.Name, err)
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), killWait)
	defer cancel()
	if err := group.Kill(ctx); err != nil {
		return fmt.Errorf("service %s: %w", p.spec.Name, err)
	}
	return nil
}

// Cgroup is the service's cgroup directory, or "" when it has none (yet).
func (p *ProcessService) Cgroup() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.group == nil {
		return ""
	}
	return p.group.Path()
}

// forget drops a child whose group has been killed, so that a later Stop does not signal
// its process group id again: once the group is empty, the kernel may reuse that id. It
// removes the run's cgroup too (the next Start creates a fresh one), so that no
// descriptor and no cgroup is left behind; a cgroup that cannot be removed is replaced by
// the next Start.
func (p *ProcessService) forget(child *Child) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.child != child {
		return nil
	}
	p.child = nil
	if p.group == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), killWait)
	defer cancel()
	err := p.group.Remove(ctx)
	p.group = nil
	if err != nil {
		return fmt.Errorf("service %s: %w", p.spec.Name, err)
	}
	return nil
}

func (p *ProcessService) awaitKilled(child *Child) error {
	timer := time.NewTimer(killWait)
	defer timer.Stop()
	select {
	case <-child.Done():
		return nil
	case <-timer.C:
		return fmt.Errorf("service %s: pid %d not reaped %s after SIGKILL", p.spec.Name, child.Pid, killWait)
	}
}

// signalGroup signals the process group led by pid; a group that is already gone is fine.
func signalGroup(pid int, sig unix.Signal) error {
	err := unix.Kill(-pid, sig)
	if err == nil || errors.Is(err, unix.ESRCH) {
		return nil
	}
	return fmt.Errorf("signal %s to process group %d: %w", sig, pid, os.NewSyscallError("kill", err))
}

// Health reports ErrNotRunning (or the exit) when the process is gone, else the result of
// the spec's Health.
// StartTimeout is the service's own start timeout; 0 means the supervisor's.
func (p *ProcessService) StartTimeout() time.Duration { return p.spec.StartTimeout }

// FailureThreshold is the service's own failure threshold; 0 means the supervisor's.
func (p *ProcessService) FailureThreshold() int { return p.spec.FailureThreshold }

func (p *ProcessService) Health(ctx context.Context) error {
	child := p.current()
	if child == nil {
		return ErrNotRunning
	}
	if exited(child) {
		return exitError(child.Err())
	}
	if p.spec.Health == nil {
		return nil
	}
	return p.spec.Health(ctx)
}

// Wait blocks until the process of the last Start exits or ctx ends.
func (p *ProcessService) Wait(ctx context.Context) error {
	child := p.current()
	if child == nil {
		return ErrNotRunning
	}
	return child.Wait(ctx)
}

// Pid returns the pid (and process group) of the running process, or 0.
func (p *ProcessService) Pid() int {
	child := p.current()
	if child == nil || exited(child) {
		return 0
	}
	return child.Pid
}

func (p *ProcessService) current() *Child {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.child
}

func exited(c *Child) bool {
	select {
	case <-c.Done():
		return true
	default:
		return false
	}
}

// exitError wraps an exit status (nil for status 0) in ErrExited.
func exitError(err error) error {
	if err == nil {
		return fmt.Errorf("%w with status 0", ErrExited)
	}
	return fmt.Errorf("%w: %w", ErrExited, err)
}
