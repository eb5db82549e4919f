package controller

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/kiln-os/kiln/initd/resources"
)

// fake is a controller made of a reconcile function; it counts its runs.
type fake struct {
	name    string
	inputs  []Input
	outputs []Output
	fn      func(ctx context.Context, r *Runtime) error

	mu   sync.Mutex
	runs int
}

func (f *fake) Name() string      { return f.name }
func (f *fake) Inputs() []Input   { return f.inputs }
func (f *fake) Outputs() []Output { return f.outputs }

func (f *fake) Reconcile(ctx context.Context, r *Runtime) error {
	f.mu.Lock()
	f.runs++
	f.mu.Unlock()
	if f.fn == nil {
		return nil
	}
	return f.fn(ctx, r)
}

func (f *fake) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.runs
}

// start runs m in the background until the test ends, and waits for Run to return.
func start(t *testing.T, m *Manager) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := m.Run(ctx); err != nil {
			t.Error(err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("Run did not return 5s after cancel")
		}
	})
}

// eventually polls cond for up to 5 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 5s: %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// set writes a test input resource holding n.
func set(t *testing.T, s *resources.Store, typ, id string, n int) {
	t.Helper()
	_, err := s.Modify(context.Background(), "test", typ, id, "test", func(any) (any, error) { return n, nil })
	if err != nil {
		t.Fatal(err)
	}
}
