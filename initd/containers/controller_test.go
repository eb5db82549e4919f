package containers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kiln-os/kiln/config"
	"github.com/kiln-os/kiln/initd/configstate"
	"github.com/kiln-os/kiln/initd/events"
	"github.com/kiln-os/kiln/initd/resources"
	"github.com/kiln-os/kiln/initd/resources/controller"
)

// harness runs a Controller under a controller manager against a fake containerd.
type harness struct {
	t     *testing.T
	store *resources.Store
	rt    *fakeRuntime
	ctl   *Controller

	mu     sync.Mutex
	events []events.Event
}

func newHarness(t *testing.T, rt *fakeRuntime, tune func(*Controller)) *harness {
	t.Helper()
	h := &harness{t: t, store: resources.New(resources.Config{}), rt: rt}
	h.ctl = &Controller{
		Runtime: func() Runtime { return rt }, Store: h.store, Emit: h.record,
		Grace: time.Second, BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond,
		ImageRecheck: time.Hour, // only ImagesChanged wakes a waiting container, unless a test says
	}
	if tune != nil {
		tune(h.ctl)
	}
	m := controller.NewManager(h.store, controller.Config{BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond})
	if err := m.Register(h.ctl); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	t.Cleanup(func() { // runs first: the runners end before the manager
		if err := h.ctl.Stop(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return h
}

func (h *harness) record(e events.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events = append(h.events, e)
}

// eventCount counts the events of container name in state.
func (h *harness) eventCount(name, state string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, e := range h.events {
		if e.Type == events.TypeContainer && e.Name == name && e.State == state {
			n++
		}
	}
	return n
}

func (h *harness) containerd(healthy bool) {
	h.t.Helper()
	spec := &resources.ServiceSpec{Name: containerdService, State: "Running", Healthy: healthy}
	if _, err := h.store.Set(context.Background(), resources.NamespaceRuntime, resources.TypeService, containerdService, "test", spec); err != nil {
		h.t.Fatal(err)
	}
}

// apply makes a config holding containers the config in force.
func (h *harness) apply(containers ...config.Container) {
	h.t.Helper()
	spec := &resources.MachineConfigSpec{Config: &config.Config{Version: "v1alpha1", Machine: config.Machine{Containers: containers}},
		SHA256: fmt.Sprint(time.Now().UnixNano()), Source: resources.ConfigSourceAPI}
	if _, err := h.store.Set(context.Background(), resources.NamespaceConfig, resources.TypeMachineConfig, resources.MachineConfigID, configstate.Owner, spec); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) status(name string) *resources.ContainerStatusSpec {
	res, err := h.store.Get(resources.NamespaceRuntime, resources.TypeContainerStatus, name)
	if err != nil {
		return nil
	}
	return res.Spec.(*resources.ContainerStatusSpec)
}

// waitStatus waits up to 5 s for name's status to satisfy cond, and returns it.
func (h *harness) waitStatus(name, what string, cond func(*resources.ContainerStatusSpec) bool) *resources.ContainerStatusSpec {
	h.t.Helper()
	var st *resources.ContainerStatusSpec
	eventually(h.t, name+": "+what, func() bool {
		st = h.status(name)
		return st != nil && cond(st)
	}, func() string { return fmt.Sprintf("status %+v", h.status(name)) })
	return st
}

func (h *harness) waitState(name, state string, restarts int) *resources.ContainerStatusSpec {
	h.t.Helper()
	return h.waitStatus(name, fmt.Sprintf("%s after %d restarts", state, restarts), func(st *resources.ContainerStatusSpec) bool {
		return st.State == state && st.Restarts == restarts
	})
}

func eventually(t *testing.T, what string, cond func() bool, got func() string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 5s: %s; %s", what, got())
		}
		time.Sleep(time.Millisecond)
	}
}

func web(image string) config.Container {
	return config.Container{Name: "web", Image: image, Args: []string{"serve"}, Env: map[string]string{"PORT": "8080"}}
}

func starts(id string) func(*fakeRuntime) int {
	return func(f *fakeRuntime) int { return f.starts[id] }
}

func TestAddStartsAContainer(t *testing.T) {
	h := newHarness(t, newFakeRuntime("web:1"), nil)
	h.containerd(true)
	h.apply(web("web:1"))
	st := h.waitState("web", resources.ContainerRunning, 0)
	if st.PID == 0 || st.Image != "web:1" || st.Digest != "sha256:web:1" || st.Restart != config.RestartAlways || st.ExitCode != nil {
		t.Errorf("status %+v", st)
	}
	spec := h.rt.spec("web")
	if spec.ID != "web" || spec.Image != "web:1" || !slices.Equal(spec.Env, []string{"PORT=8080"}) || !slices.Equal(spec.Args, []string{"serve"}) {
		t.Errorf("started %+v", spec)
	}
	// The event follows the status it reports.
	eventually(t, "one running event", func() bool { return h.eventCount("web", resources.ContainerRunning) == 1 },
		func() string { return fmt.Sprint(h.eventCount("web", resources.ContainerRunning)) })
}

func TestRemoveStopsTheContainerAndForgetsItsStatus(t *testing.T) {
	h := newHarness(t, newFakeRuntime("web:1"), nil)
	h.containerd(true)
	h.apply(web("web:1"))
	h.waitState("web", resources.ContainerRunning, 0)

	h.apply()
	eventually(t, "status of web gone", func() bool { return h.status("web") == nil }, func() string { return fmt.Sprint(h.status("web")) })
	if got := h.rt.removedIDs(); !slices.Equal(got, []string{"web"}) {
		t.Errorf("removed %v, want [web]", got)
	}
	if n := h.eventCount("web", events.StateStopped); n != 1 {
		t.Errorf("%d stopped events, want 1", n)
	}
}

func TestChangeReplacesTheContainer(t *testing.T) {
	changes := []struct {
		name string
		edit func(*config.Container)
	}{
		{"image", func(c *config.Container) { c.Image = "web:2" }},
		{"args", func(c *config.Container) { c.Args = []string{"serve", "-v"} }},
		{"env", func(c *config.Container) { c.Env = map[string]string{"PORT": "9090"} }},
		{"memory", func(c *config.Container) { c.Resources.Memory = "64MiB" }},
		{"policy", func(c *config.Container) { c.Restart = config.RestartNever }},
	}
	for _, tt := range changes {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, newFakeRuntime("web:1", "web:2"), nil)
			h.containerd(true)
			h.apply(web("web:1"))
			h.waitState("web", resources.ContainerRunning, 0)

			changed := web("web:1")
			tt.edit(&changed)
			h.apply(changed)
			eventually(t, "a second start", func() bool { return h.rt.count(starts("web")) == 2 }, func() string { return fmt.Sprint(h.rt.count(starts("web"))) })
			want, _ := WorkloadsFromConfig(&config.Config{Machine: config.Machine{Containers: []config.Container{changed}}})
			st := h.waitStatus("web", "running the new spec", func(st *resources.ContainerStatusSpec) bool {
				return st.State == resources.ContainerRunning && st.Image == changed.Image && st.Restart == want[0].Restart
			})
			if got := h.rt.removedIDs(); !slices.Equal(got, []string{"web"}) {
				t.Errorf("removed %v, want the old container removed once", got)
			}
			if got := h.rt.spec("web"); fmt.Sprint(got) != fmt.Sprint(want[0].Spec) {
				t.Errorf("started %+v, want %+v", got, want[0].Spec)
			}
			if st.Restarts != 0 {
				t.Errorf("a replaced container starts its count anew: %+v", st)
			}
		})
	}
}

// An equal entry in a re-applied config is left running; the new entry beside it shows
// that the reconcile happened.
func TestEqualConfigLeavesTheContainerAlone(t *testing.T) {
	h := newHarness(t, newFakeRuntime("web:1", "db:1"), nil)
	h.containerd(true)
	h.apply(web("web:1"))
	before := h.waitState("web", resources.ContainerRunning, 0)

	h.apply(web("web:1"), config.Container{Name: "db", Image: "db:1"})
	h.waitState("db", resources.ContainerRunning, 0)
	if n := h.rt.count(starts("web")); n != 1 {
		t.Errorf("web started %d times, want once", n)
	}
	if got := h.rt.removedIDs(); len(got) != 0 {
		t.Errorf("removed %v", got)
	}
	if after := h.status("web"); after.PID != before.PID || !after.Since.Equal(before.Since) {
		t.Errorf("web's status changed: %+v → %+v", before, after)
	}
}

func TestMissingImageWaitsUntilImported(t *testing.T) {
	h := newHarness(t, newFakeRuntime(), nil)
	h.containerd(true)
	h.apply(web("web:1"))
	st := h.waitState("web", resources.ContainerWaitingForImage, 0)
	if st.PID != 0 || st.LastError != "registry docker.io: no network" { // the fake's failed pull
		t.Errorf("status %+v", st)
	}

	// An import of other images wakes it; it looks again and keeps waiting, quietly.
	looked := h.rt.count(func(f *fakeRuntime) int { return f.imageCalls["web:1"] })
	h.ctl.ImagesChanged()
	eventually(t, "another look", func() bool { return h.rt.count(func(f *fakeRuntime) int { return f.imageCalls["web:1"] }) > looked }, func() string { return "" })

	h.rt.addImage("web:1")
	h.ctl.ImagesChanged()
	h.waitState("web", resources.ContainerRunning, 0)
	if n := h.eventCount("web", resources.ContainerWaitingForImage); n != 1 {
		t.Errorf("%d waiting events, want 1", n)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, e := range h.events {
		if e.State == resources.ContainerWaitingForImage && (e.Fields["image"] != "web:1" || e.Fields["reason"] == "") {
			t.Errorf("waiting event %v: want the image and a reason", e)
		}
	}
}

// A registry pull (no ImagesChanged) is found by the periodic look.
func TestMissingImageIsLookedForAgain(t *testing.T) {
	h := newHarness(t, newFakeRuntime(), func(c *Controller) { c.ImageRecheck = 2 * time.Millisecond })
	h.containerd(true)
	h.apply(web("web:1"))
	h.waitState("web", resources.ContainerWaitingForImage, 0)
	h.rt.addImage("web:1")
	h.waitState("web", resources.ContainerRunning, 0)
}

func TestRestartPolicyOnExit(t *testing.T) {
	tests := []struct {
		policy string
		code   uint32
		state  string // after the exit
	}{
		{config.RestartAlways, 0, resources.ContainerRunning},
		{config.RestartAlways, 2, resources.ContainerRunning},
		{config.RestartOnFailure, 1, resources.ContainerRunning},
		{config.RestartOnFailure, 0, resources.ContainerExited},
		{config.RestartNever, 0, resources.ContainerExited},
		{config.RestartNever, 1, resources.ContainerExited},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%d", tt.policy, tt.code), func(t *testing.T) {
			h := newHarness(t, newFakeRuntime("web:1"), nil)
			h.containerd(true)
			c := web("web:1")
			c.Restart = tt.policy
			h.apply(c)
			h.waitState("web", resources.ContainerRunning, 0)
			h.rt.exit("web", tt.code)

			restarted := tt.state == resources.ContainerRunning
			wantRestarts, wantStarts := 0, 1
			if restarted {
				wantRestarts, wantStarts = 1, 2
			}
			st := h.waitState("web", tt.state, wantRestarts)
			if st.ExitCode == nil || *st.ExitCode != int(tt.code) {
				t.Errorf("exit code %v, want %d", st.ExitCode, tt.code)
			}
			if restarted && h.eventCount("web", resources.ContainerRestarting) != 1 {
				t.Errorf("want one restarting event: %v", h.events)
			}
			// "exited" is published only when the policy keeps it so: the runner then waits
			// for its end, which Stop brings; no start may have happened in between.
			if err := h.ctl.Stop(context.Background()); err != nil {
				t.Fatal(err)
			}
			if n := h.rt.count(starts("web")); n != wantStarts {
				t.Errorf("started %d times, want %d", n, wantStarts)
			}
		})
	}
}

func TestAlwaysKeepsRestarting(t *testing.T) {
	h := newHarness(t, newFakeRuntime("web:1"), nil)
	h.containerd(true)
	h.apply(web("web:1"))
	for i := range 3 {
		h.waitState("web", resources.ContainerRunning, i)
		h.rt.exit("web", 0)
	}
	h.waitState("web", resources.ContainerRunning, 3)
}

func TestStartErrorFailsAndIsRetried(t *testing.T) {
	rt := newFakeRuntime("web:1")
	rt.setStartErr("web", errors.New("bad spec"))
	h := newHarness(t, rt, nil)
	h.containerd(true)
	h.apply(web("web:1"))
	st := h.waitStatus("web", "failed with the error", func(st *resources.ContainerStatusSpec) bool {
		return st.State == resources.ContainerFailed && st.LastError == "start: bad spec"
	})
	if st.PID != 0 {
		t.Errorf("status %+v", st)
	}
	rt.setStartErr("web", nil)
	st = h.waitStatus("web", "running after a retry", func(st *resources.ContainerStatusSpec) bool {
		return st.State == resources.ContainerRunning && st.Restarts > 0
	})
	if st.LastError != "start: bad spec" {
		t.Errorf("the last error is kept: %+v", st)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, e := range h.events {
		if e.State == resources.ContainerFailed && (e.Error != "start: bad spec" || e.Fields["retryIn"] == "") {
			t.Errorf("failed event %v: want the error and the delay", e)
		}
	}
}

func TestLeftoversAreRemovedOnTheFirstHealthyReconcile(t *testing.T) {
	rt := newFakeRuntime("web:1")
	rt.holdLeftover("old")
	rt.holdLeftover("web") // the config still names it: its Start replaces it
	h := newHarness(t, rt, nil)
	h.apply(web("web:1"))
	h.containerd(true)
	h.waitState("web", resources.ContainerRunning, 0)
	eventually(t, "old removed", func() bool { return slices.Equal(rt.removedIDs(), []string{"old"}) }, func() string { return fmt.Sprint(rt.removedIDs()) })

	h.apply(web("web:1"), config.Container{Name: "db", Image: "web:1"})
	h.waitState("db", resources.ContainerRunning, 0)
	if n := rt.count(func(f *fakeRuntime) int { return f.listed }); n != 1 {
		t.Errorf("containerd's containers listed %d times, want once", n)
	}
}

// Reconcile is called directly: without containerd healthy it must not touch it.
func TestNothingRunsUntilContainerdIsHealthy(t *testing.T) {
	store := resources.New(resources.Config{})
	rt := newFakeRuntime("web:1")
	asked := 0
	ctl := &Controller{Runtime: func() Runtime { asked++; return rt }, Store: store, BackoffBase: time.Millisecond}
	t.Cleanup(func() { ctl.Stop(context.Background()) })
	r := controller.NewRuntime(store, ctl)
	h := &harness{t: t, store: store}
	h.apply(web("web:1"))

	for _, present := range []bool{false, true} {
		if present {
			h.containerd(false)
		}
		if err := ctl.Reconcile(context.Background(), r); err != nil {
			t.Fatal(err)
		}
		if asked != 0 || rt.count(starts("web")) != 0 || rt.count(func(f *fakeRuntime) int { return f.listed }) != 0 {
			t.Fatalf("containerd used before it is healthy (service present: %v)", present)
		}
	}
	h.containerd(true)
	if err := ctl.Reconcile(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	h.waitState("web", resources.ContainerRunning, 0)
}

// A healthy containerd without a client is a wiring error: the reconcile fails, so the
// manager retries and logs it.
func TestHealthyContainerdWithoutClientIsAnError(t *testing.T) {
	store := resources.New(resources.Config{})
	ctl := &Controller{Runtime: func() Runtime { return nil }, Store: store}
	h := &harness{t: t, store: store}
	h.apply(web("web:1"))
	h.containerd(true)
	if err := ctl.Reconcile(context.Background(), controller.NewRuntime(store, ctl)); err == nil {
		t.Error("no error")
	}
}

func TestStopRemovesEveryContainerAndKeepsTheirStatus(t *testing.T) {
	h := newHarness(t, newFakeRuntime("web:1", "db:1"), nil)
	h.containerd(true)
	h.apply(web("web:1"), config.Container{Name: "db", Image: "db:1"})
	h.waitState("web", resources.ContainerRunning, 0)
	h.waitState("db", resources.ContainerRunning, 0)
	if err := h.ctl.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := h.rt.removedIDs(); !slices.Equal(slices.Sorted(slices.Values(got)), []string{"db", "web"}) {
		t.Errorf("removed %v", got)
	}
	for _, name := range []string{"db", "web"} {
		if st := h.status(name); st == nil || st.State != resources.ContainerStopped || st.PID != 0 {
			t.Errorf("%s: %+v, want stopped", name, st)
		}
	}
	// Later config changes start nothing.
	h.apply(web("web:1"), config.Container{Name: "new", Image: "db:1"})
	if err := h.ctl.Reconcile(context.Background(), controller.NewRuntime(h.store, h.ctl)); err != nil {
		t.Fatal(err)
	}
	if n := h.rt.count(starts("new")); n != 0 {
		t.Errorf("started after Stop")
	}
}

// A task whose wait fails (containerd restarted under it) is failed and started again.
func TestWaitErrorRestarts(t *testing.T) {
	rt := newFakeRuntime("web:1")
	h := newHarness(t, rt, nil)
	h.containerd(true)
	h.apply(web("web:1"))
	h.waitState("web", resources.ContainerRunning, 0)
	rt.breakWait("web", errors.New("connection lost"))
	st := h.waitState("web", resources.ContainerRunning, 1)
	if st.LastError != "wait for the task: connection lost" || st.ExitCode != nil {
		t.Errorf("status %+v", st)
	}
	if n := h.eventCount("web", resources.ContainerFailed); n != 1 {
		t.Errorf("%d failed events, want 1", n)
	}
}

// Quick exits in a row double the delay; a run of HealthyReset starts it over.
func TestBackoffGrowsAndResetsAfterAHealthyRun(t *testing.T) {
	h := newHarness(t, newFakeRuntime("web:1"), func(c *Controller) {
		c.BackoffBase, c.BackoffMax, c.HealthyReset = time.Millisecond, time.Second, 300*time.Millisecond
	})
	h.containerd(true)
	h.apply(web("web:1"))
	for i := range 3 {
		h.waitState("web", resources.ContainerRunning, i)
		h.rt.exit("web", 1)
	}
	h.waitState("web", resources.ContainerRunning, 3)
	time.Sleep(350 * time.Millisecond) // a healthy run: setup, not an assertion
	h.rt.exit("web", 1)
	h.waitState("web", resources.ContainerRunning, 4)

	h.mu.Lock()
	defer h.mu.Unlock()
	var delays []string
	for _, e := range h.events {
		if e.State == resources.ContainerRestarting {
			delays = append(delays, e.Fields["retryIn"])
		}
	}
	if want := []string{"1ms", "2ms", "4ms", "1ms"}; !slices.Equal(delays, want) {
		t.Errorf("restart delays %v, want %v", delays, want)
	}
}
