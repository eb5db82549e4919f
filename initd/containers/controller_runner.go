package containers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/kiln-os/kiln/initd/events"
	"github.com/kiln-os/kiln/initd/resources"
	"github.com/kiln-os/kiln/internal/backoff"
)

// pullTimeout bounds one pull of a missing image; the runner's goroutine waits for it,
// no other container does.
const pullTimeout = 5 * time.Minute

// missingImageReason tells the operator what to do about a missing image.
const missingImageReason = "the image is not on the node: import it (kilnctl image import FILE.tar), or it is pulled from its registry when the node reaches it"

// runner runs one workload until its context ends:
//
//  1. resolve the image; while it is missing, pull it from its registry when a pull is
//     due, else wait (state "waiting for image", a failed pull's error as the reason)
//     for ImagesChanged or the periodic recheck;
//  2. start it ("starting", then "running"), or on an error "failed" and back to 1
//     after a backoff;
//  3. wait for it to exit; its policy says whether it stays "exited" or goes
//     "restarting" and back to 1 after a backoff.
//
// A run that lasted HealthyReset resets the backoff. Only the runner's goroutine
// touches st until done is closed.
type runner struct {
	c      *Controller
	rt     Runtime
	w      Workload
	out    io.Writer
	cancel context.CancelFunc
	done   chan struct{}

	st        resources.ContainerStatusSpec
	retry     backoff.Backoff
	pullRetry backoff.Backoff // failed pulls in a row
	nextPull  time.Time       // no pull before this
	started   bool            // Start was called once: later starts count as restarts
}

// start launches a runner for w.
func (c *Controller) start(rt Runtime, w Workload) *runner {
	ctx, cancel := context.WithCancel(context.Background())
	run := &runner{
		c: c, rt: rt, w: w, out: io.Discard, cancel: cancel, done: make(chan struct{}),
		st:        resources.ContainerStatusSpec{Name: w.Spec.ID, Image: w.Spec.Image, Restart: w.Restart},
		retry:     backoff.Backoff{Base: orDefault(c.BackoffBase, time.Second), Max: orDefault(c.BackoffMax, time.Minute)},
		pullRetry: backoff.Backoff{Base: orDefault(c.BackoffBase, time.Second), Max: orDefault(c.BackoffMax, time.Minute)},
	}
	if c.Logs != nil {
		if out := c.Logs(w.Spec.ID); out != nil {
			run.out = out
		}
	}
	go run.run(ctx)
	return run
}

func (r *runner) run(ctx context.Context) {
	defer close(r.done)
	for {
		if !r.awaitImage(ctx) {
			return
		}
		ran, exit, err := r.runOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		if ran >= orDefault(r.c.HealthyReset, time.Minute) {
			r.retry.Reset()
		}
		delay, again := r.afterRun(exit, err)
		if !again {
			<-ctx.Done() // stays exited until the config changes or machined stops
			return
		}
		if !sleep(ctx, delay) {
			return
		}
	}
}

// awaitImage returns once the image resolves (true) or ctx ends (false). A missing image
// is pulled from its registry when a pull is due: at once the first time, then after
// each failure no sooner than the pull backoff and the recheck interval say. An import
// (ImagesChanged) cuts a pull short and looks again.
func (r *runner) awaitImage(ctx context.Context) bool {
	for {
		changed := r.c.images.wait()
		img, err := r.rt.Image(ctx, r.w.Spec.Image)
		if ctx.Err() != nil {
			return false
		}
		switch {
		case err == nil:
			r.st.Digest = img.Digest
			return true
		case errors.Is(err, ErrImageNotFound):
			if !time.Now().Before(r.nextPull) {
				pulled, perr := r.pull(ctx, changed)
				if ctx.Err() != nil {
					return false
				}
				if pulled {
					// Look again: the pull stored it. Should the image still be missing
					// (deleted meanwhile), the next pull waits a recheck.
					r.nextPull = time.Now().Add(r.recheck())
					continue
				}
				if perr != nil {
					delay := max(r.pullRetry.Next(), r.recheck())
					r.nextPull = time.Now().Add(delay)
					r.transition(resources.ContainerWaitingForImage, perr, map[string]string{"reason": perr.Error(), "retryIn": delay.String()})
				}
			}
			if r.st.State != resources.ContainerWaitingForImage {
				r.transition(resources.ContainerWaitingForImage, nil, map[string]string{"reason": missingImageReason})
			}
			if !r.waitForImages(ctx, changed) {
				return false
			}
		default:
			delay := r.retry.Next()
			r.transition(resources.ContainerFailed, fmt.Errorf("resolve image %s: %w", r.w.Spec.Image, err), retryField(delay))
			if !sleep(ctx, delay) {
				return false
			}
		}
	}
}

// pull runs one Pull of the image, bounded by pullTimeout and cut short when the images
// change (changed closes). It says whether the image was pulled; err is nil when the
// pull was cut short, which is not a failure.
func (r *runner) pull(ctx context.Context, changed <-chan struct{}) (bool, error) {
	pctx, cancel := context.WithTimeout(ctx, pullTimeout)
	defer cancel()
	var cut bool // written by the watcher, read once it is done
	watch := make(chan struct{})
	go func() {
		defer close(watch)
		select {
		case <-changed:
			cut = true
			cancel()
		case <-pctx.Done():
		}
	}()
	img, err := r.rt.Pull(pctx, r.w.Spec.Image)
	cancel()
	<-watch
	if err == nil {
		r.pullRetry.Reset()
		r.c.log().WithField("container", r.w.Spec.ID).WithField("image", r.w.Spec.Image).WithField("digest", img.Digest).Info("pulled the image")
		return true, nil
	}
	if cut && ctx.Err() == nil {
		return false, nil
	}
	return false, err
}

func (r *runner) recheck() time.Duration { return orDefault(r.c.ImageRecheck, 30*time.Second) }

func (r *runner) waitForImages(ctx context.Context, changed <-chan struct{}) bool {
	t := time.NewTimer(r.recheck())
	defer t.Stop()
	select {
	case <-changed:
	case <-t.C:
	case <-ctx.Done():
		return false
	}
	return true
}

// runOnce starts the container and waits for it to exit; ran is how long it ran.
func (r *runner) runOnce(ctx context.Context) (ran time.Duration, exit Exit, err error) {
	if r.started {
		r.st.Restarts++
	}
	r.started = true
	r.transition(resources.ContainerStarting, nil, nil)
	task, err := r.rt.Start(ctx, r.w.Spec, r.out)
	if err != nil {
		return 0, Exit{}, fmt.Errorf("start: %w", err)
	}
	began := time.Now()
	r.st.PID = int(task.PID())
	r.transition(resources.ContainerRunning, nil, map[string]string{"pid": strconv.Itoa(r.st.PID)})
	exit, err = task.Wait(ctx)
	r.st.PID = 0
	if err != nil {
		return time.Since(began), Exit{}, fmt.Errorf("wait for the task: %w", err)
	}
	return time.Since(began), exit, nil
}

// afterRun publishes how the run ended and says whether and when to start again.
func (r *runner) afterRun(exit Exit, err error) (time.Duration, bool) {
	if err != nil {
		delay := r.retry.Next()
		r.transition(resources.ContainerFailed, err, retryField(delay))
		return delay, true
	}
	code := int(exit.Code)
	r.st.ExitCode = &code
	fields := map[string]string{"exitCode": strconv.Itoa(code)}
	if !restarts(r.w.Restart, exit.Code) {
		fields["restart"] = r.w.Restart
		r.transition(resources.ContainerExited, nil, fields)
		return 0, false
	}
	delay := r.retry.Next()
	fields["retryIn"] = delay.String()
	r.transition(resources.ContainerRestarting, nil, fields)
	return delay, true
}

func retryField(delay time.Duration) map[string]string {
	return map[string]string{"retryIn": delay.String()}
}

// transition enters state (err, if any, becomes the last error), publishes the status
// and emits an event with fields and the image.
func (r *runner) transition(state string, err error, fields map[string]string) {
	now := time.Now()
	if r.st.State != state {
		r.st.State, r.st.Since = state, now
	}
	ev := events.Event{Time: now, Type: events.TypeContainer, Name: r.w.Spec.ID, State: state, Fields: map[string]string{"image": r.w.Spec.Image}}
	for k, v := range fields {
		ev.Fields[k] = v
	}
	if err != nil {
		r.st.LastError = err.Error()
		ev.Error = err.Error()
		r.c.log().WithError(err).WithField("container", r.w.Spec.ID).Warn(state)
	}
	r.c.publish(r.st)
	r.c.emit(ev)
}

// publish writes one container's status.
func (c *Controller) publish(st resources.ContainerStatusSpec) {
	if c.Store == nil {
		return
	}
	_, err := c.Store.Set(context.Background(), resources.NamespaceRuntime, resources.TypeContainerStatus, st.Name, c.Name(), &st)
	if err != nil {
		c.log().WithError(err).WithField("container", st.Name).Warn("publish container status")
	}
}

// sleep waits d; false when ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
