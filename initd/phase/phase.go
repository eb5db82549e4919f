// Package phase runs boot as named phases of concurrent tasks.
//
// This is the room for the ordering of boot, not its content: machined builds a table of
// phases (EnforceKSPPRequirements, EarlyMounts, Storage, ...) whose tasks live in other
// packages, and Runner executes it. Phases run one after the other; the tasks of one phase
// run concurrently. The first task that fails cancels its siblings, fails the phase and
// stops the boot: later phases never start. Every phase and task reports started, done or
// failed to the event stream, so a failed boot says which task broke and why.
//
// The package must not do boot work itself (no mounts, no files, no processes) and must
// not exit the process: a failure travels up as a *PhaseError, and a panicking task
// becomes a failed task, because PID 1 must never crash.
package phase

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kiln-os/kiln/initd/events"
)

// Task is one unit of boot work. Its name appears in events as "Phase/Task".
type Task struct {
	Name string
	Run  func(ctx context.Context, log logrus.FieldLogger) error
	// Timeout bounds the task when positive. A task that ignores its context past the
	// timeout is abandoned: the phase fails without waiting for it.
	Timeout time.Duration
}

// Phase is a named group of tasks that run concurrently.
type Phase struct {
	Name  string
	Tasks []Task
}

// PhaseError says which phase and task failed the boot.
type PhaseError struct {
	Phase string
	Task  string // empty when the phase failed before a task did (e.g. cancelled)
	Err   error
}

func (e *PhaseError) Error() string {
	if e.Task == "" {
		return fmt.Sprintf("phase %s: %v", e.Phase, e.Err)
	}
	return fmt.Sprintf("phase %s: task %s: %v", e.Phase, e.Task, e.Err)
}

func (e *PhaseError) Unwrap() error { return e.Err }

// ErrInvalid is wrapped by errors about a malformed phase table.
var ErrInvalid = errors.New("phase: invalid table")

// Runner executes phases in order. Emit, Log and Clock may be nil.
type Runner struct {
	Phases []Phase
	// Emit receives every event. Calls are serialized, so Emit need not be safe for
	// concurrent use.
	Emit func(events.Event)
	Log  logrus.FieldLogger
	// Clock stamps events and measures durations; time.Now when nil.
	Clock func() time.Time

	emitMu sync.Mutex
}

// Run executes the phases in order and returns the first failure as a *PhaseError.
// A malformed table fails before any phase starts, with an error wrapping ErrInvalid.
func (r *Runner) Run(ctx context.Context) error {
	if err := validate(r.Phases); err != nil {
		return err
	}
	for _, p := range r.Phases {
		if err := ctx.Err(); err != nil {
			return &PhaseError{Phase: p.Name, Err: err}
		}
		if err := r.runPhase(ctx, p); err != nil {
			return err
		}
	}
	return nil
}

func validate(phases []Phase) error {
	seen := map[string]bool{}
	for i, p := range phases {
		if p.Name == "" {
			return fmt.Errorf("%w: phase %d has no name", ErrInvalid, i)
		}
		if seen[p.Name] {
			return fmt.Errorf("%w: phase %s listed twice", ErrInvalid, p.Name)
		}
		seen[p.Name] = true
		if err := validateTasks(p); err != nil {
			return err
		}
	}
	return nil
}

func validateTasks(p Phase) error {
	seen := map[string]bool{}
	for i, t := range p.Tasks {
		switch {
		case t.Name == "":
			return fmt.Errorf("%w: phase %s: task %d has no name", ErrInvalid, p.Name, i)
		case seen[t.Name]:
			return fmt.Errorf("%w: phase %s: task %s listed twice", ErrInvalid, p.Name, t.Name)
		case t.Run == nil:
			return fmt.Errorf("%w: phase %s: task %s has no Run function", ErrInvalid, p.Name, t.Name)
		}
		seen[t.Name] = true
	}
	return nil
}

// runPhase runs the tasks of one phase concurrently and waits for all of them, except
// those abandoned after their timeout.
func (r *Runner) runPhase(ctx context.Context, p Phase) error {
	log := r.logger().WithField("phase", p.Name)
	start := r.now()
	r.emit(start, events.TypePhase, p.Name, events.StateStarted, nil, 0)
	log.Info("phase started")

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	first := &firstFailure{cancel: cancel}
	var wg sync.WaitGroup
	for _, t := range p.Tasks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.runTask(ctx, p.Name, t, log); err != nil {
				first.record(t.Name, err)
			}
		}()
	}
	wg.Wait()

	end := r.now()
	elapsed := end.Sub(start)
	if first.err != nil {
		r.emit(end, events.TypePhase, p.Name, events.StateFailed, first.err, elapsed)
		log.WithError(first.err).WithField("task", first.task).Error("phase failed")
		return &PhaseError{Phase: p.Name, Task: first.task, Err: first.err}
	}
	r.emit(end, events.TypePhase, p.Name, events.StateDone, nil, elapsed)
	log.WithField("duration", elapsed).Info("phase done")
	return nil
}

// firstFailure keeps the failure that cancelled the phase; later ones are its echoes.
type firstFailure struct {
	mu     sync.Mutex
	task   string
	err    error
	cancel context.CancelFunc
}

func (f *firstFailure) record(task string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err == nil {
		f.task, f.err = task, err
		f.cancel()
	}
}

// emit sends one event stamped at; elapsed goes into the "duration" field of the
// events that end something.
func (r *Runner) emit(at time.Time, typ, name, state string, err error, elapsed time.Duration) {
	ev := events.Event{Time: at, Type: typ, Name: name, State: state}
	if err != nil {
		ev.Error = err.Error()
	}
	if state != events.StateStarted {
		ev.Fields = map[string]string{"duration": elapsed.String()}
	}
	if r.Emit == nil {
		return
	}
	r.emitMu.Lock()
	defer r.emitMu.Unlock()
	r.Emit(ev)
}

func (r *Runner) now() time.Time {
	if r.Clock == nil {
		return time.Now()
	}
	return r.Clock()
}

func (r *Runner) logger() logrus.FieldLogger {
	if r.Log == nil {
		discard := logrus.New()
		discard.Out = io.Discard
		return discard
	}
	return r.Log
}
