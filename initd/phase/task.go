package phase

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kiln-os/kiln/initd/events"
)

// runTask runs one task with its events, its timeout and panic recovery.
func (r *Runner) runTask(ctx context.Context, phase string, t Task, log logrus.FieldLogger) error {
	name := phase + "/" + t.Name
	log = log.WithField("task", t.Name)
	start := r.now()
	r.emit(start, events.TypeTask, name, events.StateStarted, nil, 0)

	err := runBounded(ctx, t, log)

	end := r.now()
	elapsed := end.Sub(start)
	if err != nil {
		r.emit(end, events.TypeTask, name, events.StateFailed, err, elapsed)
		log.WithError(err).Error("task failed")
		return err
	}
	r.emit(end, events.TypeTask, name, events.StateDone, nil, elapsed)
	log.WithField("duration", elapsed).Debug("task done")
	return nil
}

// errTimedOut is the cancel cause of a task's own deadline; it tells a timeout apart
// from the phase being cancelled by a failing sibling.
var errTimedOut = errors.New("task timed out")

// runBounded runs the task in its own goroutine so that a task ignoring its context can
// be abandoned once its timeout expires; without a timeout it waits for the task.
func runBounded(ctx context.Context, t Task, log logrus.FieldLogger) error {
	var expired <-chan time.Time
	if t.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, t.Timeout, errTimedOut)
		defer cancel()
		timer := time.NewTimer(t.Timeout + abandonGrace(t.Timeout))
		defer timer.Stop()
		expired = timer.C
	}
	result := make(chan error, 1) // buffered: an abandoned task must not block forever
	go func() { result <- runProtected(ctx, t, log) }()

	select {
	case err := <-result:
		if err != nil && context.Cause(ctx) == errTimedOut {
			return fmt.Errorf("timed out after %s: %w", t.Timeout, err)
		}
		return err
	case <-expired:
		log.WithField("timeout", t.Timeout).Warn("task ignored its deadline; abandoned")
		return fmt.Errorf("timed out after %s: %w", t.Timeout, context.DeadlineExceeded)
	}
}

// abandonGrace is how long past its deadline a task may take to return its own error
// before the runner stops waiting for it.
func abandonGrace(timeout time.Duration) time.Duration {
	return min(timeout/10, time.Second)
}

// runProtected turns a panic in the task into an error: PID 1 must survive its tasks.
func runProtected(ctx context.Context, t Task, log logrus.FieldLogger) (err error) {
	defer func() {
		if v := recover(); v != nil {
			log.WithField("stack", string(debug.Stack())).Error("task panicked")
			err = fmt.Errorf("panic: %v", v)
		}
	}()
	return t.Run(ctx, log)
}
