package containers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kiln-os/kiln/initd/configstate"
	"github.com/kiln-os/kiln/initd/events"
	"github.com/kiln-os/kiln/initd/resources"
	"github.com/kiln-os/kiln/initd/resources/controller"
)

// containerdService is the supervised service whose health says containerd answers.
const containerdService = "containerd"

// removeBudget is how long a Remove may take beyond the stop grace (task and snapshot
// deletion) before the controller gives up on it and tries again at the next reconcile.
const removeBudget = 15 * time.Second

// Controller keeps the containers containerd runs equal to machine.containers and
// publishes runtime/ContainerStatus. Each container has a runner goroutine (image,
// start, wait, restart per policy) that publishes its status to Store as it changes,
// between reconciles, as the service controller does for services.
//
// While containerd is not healthy the controller does nothing: containers keep their
// last status. The first reconcile with containerd healthy also removes the containers
// containerd holds that the config does not name (left by an earlier boot).
type Controller struct {
	// Runtime gives the containerd client; it is asked only once containerd is healthy,
	// and must not return nil then.
	Runtime func() Runtime
	Log     logrus.FieldLogger
	Emit    func(events.Event)
	// Logs gives the log ring a container's stdout and stderr go to; nil discards them.
	Logs func(name string) io.Writer
	// Store receives runtime/ContainerStatus from the runners.
	Store *resources.Store

	// Zero fields take the defaults in brackets.
	Grace        time.Duration // SIGTERM to SIGKILL when a container is stopped [10s]
	BackoffBase  time.Duration // first delay before a restart [1s]
	BackoffMax   time.Duration // restart delay cap [1min]
	HealthyReset time.Duration // a run at least this long resets the backoff [1min]
	ImageRecheck time.Duration // how often a missing image is looked for again [30s]

	mu      sync.Mutex // held by Reconcile and Stop
	runners map[string]*runner
	orphans map[string]bool // containers in containerd that no runner owns: to remove
	cleaned bool            // the leftovers of an earlier boot were listed
	stopped bool

	images imagesSignal
}

func (c *Controller) Name() string { return "ContainerController" }

func (c *Controller) Inputs() []controller.Input {
	return []controller.Input{
		configstate.Input,
		{Namespace: resources.NamespaceRuntime, Type: resources.TypeService},
	}
}

func (c *Controller) Outputs() []controller.Output {
	return []controller.Output{{Type: resources.TypeContainerStatus}}
}

// ImagesChanged wakes the containers waiting for their image to look again; the image
// import handler calls it after every import.
func (c *Controller) ImagesChanged() { c.images.broadcast() }

// Reconcile starts the containers the config adds, stops and removes the ones it drops,
// replaces the ones it changes (stop, then start the new spec) and leaves equal ones
// alone.
func (c *Controller) Reconcile(ctx context.Context, r *controller.Runtime) error {
	rt, err := c.runtime(r)
	if err != nil || rt == nil {
		return err
	}
	cfg, err := configstate.FromRuntime(r)
	if err != nil || cfg == nil {
		return err
	}
	want, err := WorkloadsFromConfig(cfg.Config)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return nil
	}
	if !c.cleaned {
		if err := c.listLeftovers(ctx, rt); err != nil {
			return err
		}
		c.cleaned = true
	}
	c.apply(rt, want)
	names := make([]string, len(want))
	for i, w := range want {
		names[i] = w.Spec.ID
	}
	orphansErr := c.removeOrphans(ctx, rt, names)
	return errors.Join(orphansErr, r.Cleanup(resources.NamespaceRuntime, resources.TypeContainerStatus, names))
}

// runtime is the containerd client once containerd is healthy; nil before.
func (c *Controller) runtime(r *controller.Runtime) (Runtime, error) {
	svc, err := controller.Spec[resources.ServiceSpec](r, resources.NamespaceRuntime, resources.TypeService, containerdService)
	if err != nil || svc == nil || !svc.Healthy {
		return nil, err
	}
	var rt Runtime
	if c.Runtime != nil {
		rt = c.Runtime()
	}
	if rt == nil {
		return nil, errors.New("containerd is healthy but the container controller has no client for it")
	}
	return rt, nil
}

// listLeftovers marks every container containerd holds as an orphan: the runners of
// this boot have not started yet, so each one is an earlier boot's.
func (c *Controller) listLeftovers(ctx context.Context, rt Runtime) error {
	ids, err := rt.Containers(ctx)
	if err != nil {
		return fmt.Errorf("list containerd's containers: %w", err)
	}
	if c.orphans == nil {
		c.orphans = map[string]bool{}
	}
	for _, id := range ids {
		c.orphans[id] = true
	}
	return nil
}

// removeOrphans removes the orphans the config does not name; a named one is left to
// its runner, whose Start removes a leftover of the same ID. One that fails to go stays
// an orphan, tried again at the next reconcile.
func (c *Controller) removeOrphans(ctx context.Context, rt Runtime, wanted []string) error {
	var errs []error
	for _, id := range slices.Sorted(maps.Keys(c.orphans)) {
		if slices.Contains(wanted, id) {
			delete(c.orphans, id)
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, c.grace()+removeBudget)
		err := rt.Remove(rctx, id, c.grace())
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("remove container %s: %w", id, err))
			continue
		}
		delete(c.orphans, id)
		c.log().WithField("container", id).Info("removed a container the config does not name")
	}
	return errors.Join(errs...)
}

// apply stops the runners whose workload is gone or changed, then starts a runner for
// every workload that has none.
func (c *Controller) apply(rt Runtime, want []Workload) {
	byName := map[string]Workload{}
	for _, w := range want {
		byName[w.Spec.ID] = w
	}
	var gone []*runner
	for _, name := range slices.Sorted(maps.Keys(c.runners)) {
		run := c.runners[name]
		if w, ok := byName[name]; !ok || !reflect.DeepEqual(w, run.w) {
			gone = append(gone, run)
			delete(c.runners, name)
		}
	}
	c.stopRunners(context.Background(), gone, func(run *runner) {
		reason := "removed from the config"
		if _, ok := byName[run.w.Spec.ID]; ok {
			reason = "replaced by a changed config entry"
		}
		c.emit(events.Event{Type: events.TypeContainer, Name: run.w.Spec.ID, State: events.StateStopped,
			Fields: map[string]string{"image": run.w.Spec.Image, "reason": reason}})
	})
	if c.runners == nil {
		c.runners = map[string]*runner{}
	}
	for _, w := range want {
		if c.runners[w.Spec.ID] == nil {
			c.runners[w.Spec.ID] = c.start(rt, w)
		}
	}
}

// stopRunners ends the runners and removes their containers, all at once (each may
// take the whole grace), then calls stopped for each; a container that fails to go
// becomes an orphan.
func (c *Controller) stopRunners(ctx context.Context, list []*runner, stopped func(*runner)) []error {
	errs := make([]error, len(list))
	var wg sync.WaitGroup
	for i, run := range list {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.stopRunner(ctx, run)
		}()
	}
	wg.Wait()
	for i, run := range list {
		if errs[i] != nil {
			c.log().WithError(errs[i]).WithField("container", run.w.Spec.ID).Warn("stop container; tried again at the next reconcile")
			if c.orphans == nil {
				c.orphans = map[string]bool{}
			}
			c.orphans[run.w.Spec.ID] = true
		}
		stopped(run)
	}
	return errs
}

func (c *Controller) stopRunner(ctx context.Context, run *runner) error {
	run.cancel()
	<-run.done
	ctx, cancel := context.WithTimeout(ctx, c.grace()+removeBudget)
	defer cancel()
	if err := run.rt.Remove(ctx, run.w.Spec.ID, c.grace()); err != nil {
		return fmt.Errorf("remove container %s: %w", run.w.Spec.ID, err)
	}
	return nil
}

// Stop stops every container and removes it from containerd; each one's status stays,
// as stopped. Reconciles after Stop do nothing. machined calls it at shutdown, before
// containerd stops.
func (c *Controller) Stop(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopped = true
	list := make([]*runner, 0, len(c.runners))
	for _, name := range slices.Sorted(maps.Keys(c.runners)) {
		list = append(list, c.runners[name])
	}
	c.runners = nil
	errs := c.stopRunners(ctx, list, func(run *runner) {
		run.st.PID = 0
		run.transition(resources.ContainerStopped, nil, map[string]string{"reason": "machined is shutting down"})
	})
	return errors.Join(errs...)
}

func (c *Controller) grace() time.Duration { return orDefault(c.Grace, 10*time.Second) }

func (c *Controller) log() logrus.FieldLogger {
	if c.Log == nil {
		discard := logrus.New()
		discard.Out = io.Discard
		return discard
	}
	return c.Log
}

func (c *Controller) emit(e events.Event) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	if c.Emit != nil {
		c.Emit(e)
	}
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// imagesSignal is a broadcast: every waiter of one channel wakes when it is closed, and
// a new channel takes its place. A waiter takes the channel before it looks at the
// images, so an import between the look and the wait is not missed.
type imagesSignal struct {
	mu sync.Mutex
	ch chan struct{}
}

func (s *imagesSignal) wait() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

func (s *imagesSignal) broadcast() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch != nil {
		close(s.ch)
	}
	s.ch = make(chan struct{})
}
