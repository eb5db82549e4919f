package supervisor

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// fakeService is a Service without a process, for graph and loop tests.
type fakeService struct {
	name   string
	deps   []string
	health func() error
}

func (f *fakeService) Name() string                { return f.name }
func (f *fakeService) DependsOn() []string         { return f.deps }
func (f *fakeService) Start(context.Context) error { return nil }
func (f *fakeService) Stop(context.Context) error  { return nil }
func (f *fakeService) Health(context.Context) error {
	if f.health == nil {
		return nil
	}
	return f.health()
}

func fake(name string, deps ...string) Service { return &fakeService{name: name, deps: deps} }

func TestGraphErrors(t *testing.T) {
	for _, tc := range []struct {
		name     string
		services []Service
		want     string
	}{
		{"unknown dependency", []Service{fake("api", "db")}, `service "api" depends on unknown service "db"`},
		{"cycle", []Service{fake("x"), fake("a", "b"), fake("b", "c"), fake("c", "a")}, "dependency cycle a -> b -> c -> a"},
		{"cycle reached from outside", []Service{fake("web", "a"), fake("a", "b"), fake("b", "a")}, "dependency cycle a -> b -> a"},
		{"self dependency", []Service{fake("a", "a")}, "dependency cycle a -> a"},
		{"duplicate", []Service{fake("a"), fake("a")}, `service "a" is listed twice`},
		{"no name", []Service{fake("")}, "service 0 has no name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(Config{}, tc.services...)
			if !errors.Is(err, ErrGraph) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New = %v, want ErrGraph mentioning %q", err, tc.want)
			}
		})
	}
}

func TestGraphOrder(t *testing.T) {
	ordered, err := orderServices([]Service{fake("web", "api"), fake("cache"), fake("api", "db", "cache"), fake("db")})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, svc := range ordered {
		names = append(names, svc.Name())
	}
	if want := []string{"db", "cache", "api", "web"}; !slices.Equal(names, want) {
		t.Errorf("order = %v, want %v", names, want)
	}
}

func TestBackoff(t *testing.T) {
	b := backoff{base: 10 * time.Millisecond, max: 50 * time.Millisecond, reset: time.Second}
	var got []time.Duration
	for range 5 {
		got = append(got, b.next(0))
	}
	got = append(got, b.next(2*time.Second), b.next(0))
	ms := time.Millisecond
	if want := []time.Duration{10 * ms, 20 * ms, 40 * ms, 50 * ms, 50 * ms, 10 * ms, 20 * ms}; !slices.Equal(got, want) {
		t.Errorf("delays = %v, want %v", got, want)
	}
}

func TestHealthTracker(t *testing.T) {
	t0 := time.Unix(0, 0)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	errDown := errors.New("connection refused")
	h := healthTracker{started: t0, startTimeout: 10 * time.Second, threshold: 2}
	steps := []struct {
		at   int
		err  error
		want verdict
	}{
		{1, errDown, steady}, // still starting
		{2, nil, nowHealthy},
		{3, nil, steady},
		{5, errDown, nowUnhealthy},
		{6, nil, nowHealthy},
		{7, errDown, nowUnhealthy},
		{8, errDown, giveUp},
	}
	for _, step := range steps {
		if got, _ := h.observe(at(step.at), step.err); got != step.want {
			t.Fatalf("t=%d: verdict %d, want %d", step.at, got, step.want)
		}
	}
	if got := h.healthyFor(at(9)); got != time.Second {
		t.Errorf("healthyFor = %s, want the last streak 1s", got)
	}

	late := healthTracker{started: t0, startTimeout: 10 * time.Second, threshold: 2}
	if v, err := late.observe(at(10), errDown); v != giveUp || !errors.Is(err, errDown) {
		t.Errorf("after StartTimeout: %d, %v; want giveUp wrapping the check error", v, err)
	}
}

func TestPanickingHealthIsAFailure(t *testing.T) {
	rec := &recorder{}
	svc := &fakeService{name: "apid", health: func() error { panic("nil certificate") }}
	cfg := testConfig(t, rec)
	cfg.StartTimeout = time.Nanosecond // the first failed check ends the run
	startSupervisor(t, cfg, svc)

	waitUntil(t, "two restarts", func() bool { return rec.count("apid", StateRestarting) >= 2 })
	ev := rec.first("apid", StateFailed)
	if !strings.Contains(ev.Error, "panic: nil certificate") {
		t.Errorf("failed event error = %q, want the panic", ev.Error)
	}
}

func TestStartErrorIsRetried(t *testing.T) {
	rec := &recorder{}
	svc, err := NewProcess(ProcessSpec{Name: "containerd", Argv: []string{"/nonexistent/containerd"}})
	if err != nil {
		t.Fatal(err)
	}
	startSupervisor(t, testConfig(t, rec), svc)

	waitUntil(t, "a restart", func() bool { return rec.count("containerd", StateRestarting) >= 1 })
	ev := rec.first("containerd", StateFailed)
	if !strings.Contains(ev.Error, "start: ") || !strings.Contains(ev.Error, "no such file or directory") {
		t.Errorf("failed event error = %q", ev.Error)
	}
}
