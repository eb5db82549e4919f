package phase

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"

	"github.com/kiln-os/kiln/initd/events"
)

// recorder collects events; the Runner serializes Emit, so no lock is needed for that,
// but tests read while abandoned tasks may still run, hence the mutex.
type recorder struct {
	mu     sync.Mutex
	events []events.Event
}

func (r *recorder) emit(e events.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

// lines renders events as "type name state" for comparisons.
func (r *recorder) lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		out = append(out, e.Type+" "+e.Name+" "+e.State)
	}
	return out
}

func (r *recorder) find(typ, name, state string) (events.Event, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.events {
		if e.Type == typ && e.Name == name && e.State == state {
			return e, true
		}
	}
	return events.Event{}, false
}

// fakeClock advances one second per reading, so durations are exact.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) read() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(time.Second)
	return c.now
}

func newRunner(rec *recorder, phases ...Phase) *Runner {
	log, _ := test.NewNullLogger()
	return &Runner{Phases: phases, Emit: rec.emit, Log: log}
}

func ok(name string) Task {
	return Task{Name: name, Run: func(context.Context, logrus.FieldLogger) error { return nil }}
}

func TestRunEmitsEventsInOrder(t *testing.T) {
	rec := &recorder{}
	r := newRunner(rec, Phase{Name: "Early", Tasks: []Task{ok("mount")}}, Phase{Name: "Late", Tasks: []Task{ok("bless")}})
	clock := &fakeClock{now: time.Unix(0, 0)}
	r.Clock = clock.read

	if err := r.Run(context.Background()); err != nil {
		t.Fatalf("Run: %v", err)
	}
	want := []string{
		"phase Early started", "task Early/mount started", "task Early/mount done", "phase Early done",
		"phase Late started", "task Late/bless started", "task Late/bless done", "phase Late done",
	}
	if got := rec.lines(); !slices.Equal(got, want) {
		t.Errorf("events:\n got %q\nwant %q", got, want)
	}
	// Clock readings: phase start 1, task start 2, task end 3, phase end 4.
	done, _ := rec.find(events.TypePhase, "Early", events.StateDone)
	if done.Fields["duration"] != "3s" || !done.Time.Equal(time.Unix(4, 0)) {
		t.Errorf("phase done event = %+v, want duration 3s at t=4", done)
	}
	task, _ := rec.find(events.TypeTask, "Early/mount", events.StateDone)
	if task.Fields["duration"] != "1s" || !task.Time.Equal(time.Unix(3, 0)) {
		t.Errorf("task done event = %+v, want duration 1s at t=3", task)
	}
}

// TestTasksRunConcurrently proves concurrency with a barrier: each task waits until the
// other has started, which deadlocks (and times out) if they ran one by one.
func TestTasksRunConcurrently(t *testing.T) {
	var started sync.WaitGroup
	started.Add(2)
	barrier := func(ctx context.Context, _ logrus.FieldLogger) error {
		started.Done()
		started.Wait()
		return nil
	}
	var order []string
	var mu sync.Mutex
	mark := func(name string) Task {
		return Task{Name: name, Run: func(context.Context, logrus.FieldLogger) error {
			mu.Lock()
			defer mu.Unlock()
			order = append(order, name)
			return nil
		}}
	}
	r := newRunner(&recorder{},
		Phase{Name: "One", Tasks: []Task{
			{Name: "a", Run: barrier, Timeout: 5 * time.Second},
			{Name: "b", Run: barrier, Timeout: 5 * time.Second},
			mark("one"),
		}},
		Phase{Name: "Two", Tasks: []Task{mark("two")}},
	)
	if err := r.Run(context.Background()); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !slices.Equal(order, []string{"one", "two"}) {
		t.Errorf("order = %v, want phase One before phase Two", order)
	}
}

var errDisk = errors.New("no STATE partition")

func TestFailureCancelsPhaseAndStopsBoot(t *testing.T) {
	rec := &recorder{}
	siblingSawCancel := make(chan error, 1)
	laterRan := false
	r := newRunner(rec,
		Phase{Name: "Storage", Tasks: []Task{
			{Name: "state", Run: func(context.Context, logrus.FieldLogger) error { return errDisk }},
			{Name: "ephemeral", Run: func(ctx context.Context, _ logrus.FieldLogger) error {
				<-ctx.Done()
				siblingSawCancel <- ctx.Err()
				return ctx.Err()
			}},
		}},
		Phase{Name: "LoadConfig", Tasks: []Task{{Name: "read", Run: func(context.Context, logrus.FieldLogger) error {
			laterRan = true
			return nil
		}}}},
	)

	err := r.Run(context.Background())
	var pe *PhaseError
	if !errors.As(err, &pe) || pe.Phase != "Storage" || pe.Task != "state" {
		t.Fatalf("Run = %v, want *PhaseError for Storage/state", err)
	}
	if !errors.Is(err, errDisk) {
		t.Errorf("errors.Is(%v, errDisk) = false", err)
	}
	if want := "phase Storage: task state: no STATE partition"; err.Error() != want {
		t.Errorf("message = %q, want %q", err, want)
	}
	if got := <-siblingSawCancel; !errors.Is(got, context.Canceled) {
		t.Errorf("sibling context error = %v, want Canceled", got)
	}
	if laterRan {
		t.Error("a later phase ran after a failure")
	}
	if _, found := rec.find(events.TypePhase, "LoadConfig", events.StateStarted); found {
		t.Error("later phase emitted started")
	}
	for _, name := range []string{"Storage/state"} {
		ev, found := rec.find(events.TypeTask, name, events.StateFailed)
		if !found || ev.Error != errDisk.Error() {
			t.Errorf("failed event for %s = %+v, want error %q", name, ev, errDisk)
		}
	}
	if ev, _ := rec.find(events.TypePhase, "Storage", events.StateFailed); ev.Error != errDisk.Error() {
		t.Errorf("phase failed event error = %q, want %q", ev.Error, errDisk)
	}
}

func TestPanicBecomesFailure(t *testing.T) {
	rec := &recorder{}
	r := newRunner(rec, Phase{Name: "EarlyMounts", Tasks: []Task{{Name: "cgroup", Run: func(context.Context, logrus.FieldLogger) error {
		var m map[string]int
		m["boom"]++ // assignment to entry in nil map
		return nil
	}}}})

	err := r.Run(context.Background())
	var pe *PhaseError
	if !errors.As(err, &pe) || pe.Task != "cgroup" || !strings.Contains(err.Error(), "panic: assignment to entry in nil map") {
		t.Fatalf("Run = %v, want a PhaseError naming the panic", err)
	}
	if ev, found := rec.find(events.TypeTask, "EarlyMounts/cgroup", events.StateFailed); !found || !strings.Contains(ev.Error, "panic") {
		t.Errorf("failed event = %+v", ev)
	}
}

func TestTimeout(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  func(ctx context.Context, _ logrus.FieldLogger) error
	}{
		{"honours context", func(ctx context.Context, _ logrus.FieldLogger) error {
			<-ctx.Done()
			return fmt.Errorf("wait for USB: %w", ctx.Err())
		}},
		{"ignores context", func(context.Context, logrus.FieldLogger) error {
			time.Sleep(10 * time.Second) // abandoned by the runner
			return nil
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRunner(&recorder{}, Phase{Name: "WaitForUSB", Tasks: []Task{{Name: "settle", Run: tc.run, Timeout: 30 * time.Millisecond}}})
			begin := time.Now()
			err := r.Run(context.Background())
			if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "timed out after 30ms") {
				t.Fatalf("Run = %v, want a timeout naming 30ms", err)
			}
			if elapsed := time.Since(begin); elapsed > 2*time.Second {
				t.Errorf("Run took %s, want about 30ms", elapsed)
			}
		})
	}
}

func TestCancelledContextStartsNothing(t *testing.T) {
	rec := &recorder{}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := newRunner(rec, Phase{Name: "Network", Tasks: []Task{ok("dhcp")}}).Run(ctx)
	var pe *PhaseError
	if !errors.As(err, &pe) || pe.Phase != "Network" || !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want PhaseError{Network} wrapping Canceled", err)
	}
	if got := rec.lines(); len(got) != 0 {
		t.Errorf("events = %q, want none", got)
	}
}

func TestInvalidTable(t *testing.T) {
	for name, phases := range map[string][]Phase{
		"unnamed phase":   {{Tasks: []Task{ok("a")}}},
		"duplicate phase": {{Name: "P"}, {Name: "P"}},
		"unnamed task":    {{Name: "P", Tasks: []Task{ok("")}}},
		"duplicate task":  {{Name: "P", Tasks: []Task{ok("a"), ok("a")}}},
		"nil Run":         {{Name: "P", Tasks: []Task{{Name: "a"}}}},
	} {
		if err := newRunner(&recorder{}, phases...).Run(context.Background()); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Run = %v, want ErrInvalid", name, err)
		}
	}
}

func TestNilEmitAndLog(t *testing.T) {
	r := &Runner{Phases: []Phase{{Name: "Ready", Tasks: []Task{ok("bless")}}}}
	if err := r.Run(context.Background()); err != nil {
		t.Fatalf("Run: %v", err)
	}
}
