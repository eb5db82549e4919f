package supervisor

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus/hooks/test"

	"github.com/kiln-os/kiln/initd/events"
)

// recorder keeps the event stream.
type recorder struct {
	mu     sync.Mutex
	events []events.Event
}

func (r *recorder) emit(e events.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) all() []events.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]events.Event(nil), r.events...)
}

// index is the position of the first event of name in state, or -1.
func (r *recorder) index(name, state string) int {
	for i, e := range r.all() {
		if e.Name == name && e.State == state {
			return i
		}
	}
	return -1
}

func (r *recorder) first(name, state string) events.Event {
	if i := r.index(name, state); i >= 0 {
		return r.all()[i]
	}
	return events.Event{}
}

func (r *recorder) count(name, state string) int {
	n := 0
	for _, e := range r.all() {
		if e.Name == name && e.State == state {
			n++
		}
	}
	return n
}

// syncBuffer is a log sink safe for the output copier and the test to share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testConfig makes everything fast: checks every 10ms, restarts after 20ms. The event
// stream is logged when the test fails.
func testConfig(t *testing.T, rec *recorder) Config {
	t.Cleanup(func() {
		if t.Failed() {
			for _, ev := range rec.all() {
				t.Log(ev)
			}
		}
	})
	log, _ := test.NewNullLogger()
	return Config{
		Log:              log,
		Emit:             rec.emit,
		HealthInterval:   10 * time.Millisecond,
		HealthTimeout:    time.Second,
		StartTimeout:     5 * time.Second,
		FailureThreshold: 1,
		BackoffBase:      20 * time.Millisecond,
		BackoffMax:       time.Second,
		BackoffReset:     time.Minute,
		StopTimeout:      5 * time.Second,
	}
}

// startSupervisor starts the services and stops them when the test ends.
func startSupervisor(t *testing.T, cfg Config, services ...Service) *Supervisor {
	t.Helper()
	sup, err := New(cfg, services...)
	if err != nil {
		t.Fatal(err)
	}
	if err := sup.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := sup.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return sup
}

// waitUntil polls cond for up to 5 seconds: generous, as the machine may be busy.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func waitHealthy(t *testing.T, sup *Supervisor) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := sup.WaitHealthy(ctx); err != nil {
		t.Fatal(err)
	}
}
