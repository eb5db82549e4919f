package controller

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"

	"github.com/kiln-os/kiln/initd/resources"
)

func TestReconcilesAtStartAndOnInputChange(t *testing.T) {
	s := resources.New(resources.Config{})
	c := &fake{name: "a", inputs: []Input{{"test", "In"}}}
	m := NewManager(s, Config{})
	if err := m.Register(c); err != nil {
		t.Fatal(err)
	}
	start(t, m)
	eventually(t, "first reconcile", func() bool { return c.count() == 1 })

	set(t, s, "Unrelated", "x", 1)
	set(t, s, "In", "x", 1)
	eventually(t, "reconcile after an input change", func() bool { return c.count() == 2 })
	time.Sleep(20 * time.Millisecond)
	if n := c.count(); n != 2 {
		t.Errorf("%d reconciles, want 2 (an unrelated type must not trigger one)", n)
	}
}

// Changes made while Reconcile runs lead to exactly one more run.
func TestChangesCoalesce(t *testing.T) {
	s := resources.New(resources.Config{})
	entered, release := make(chan struct{}), make(chan struct{})
	c := &fake{name: "slow", inputs: []Input{{"test", "In"}}}
	c.fn = func(ctx context.Context, r *Runtime) error {
		if c.count() == 2 {
			close(entered)
			<-release
		}
		return nil
	}
	m := NewManager(s, Config{})
	m.Register(c)
	start(t, m)
	eventually(t, "first reconcile", func() bool { return c.count() == 1 })

	set(t, s, "In", "x", 0)
	<-entered // the second reconcile is running
	for i := range 20 {
		set(t, s, "In", "x", i+1)
	}
	// Watch events reach the manager asynchronously; coalescing covers the changes that
	// arrived by the time Reconcile returns. Give the delivery ample time to finish.
	time.Sleep(100 * time.Millisecond)
	close(release)
	eventually(t, "the coalesced reconcile", func() bool { return c.count() >= 3 })
	time.Sleep(50 * time.Millisecond)
	if n := c.count(); n != 3 {
		t.Errorf("%d reconciles for 20 changes during one run, want 3 in all", n)
	}
}

// fakeTimer records the delays asked for and fires at once.
type fakeTimer struct {
	mu     sync.Mutex
	delays []time.Duration
}

func (f *fakeTimer) After(d time.Duration) <-chan time.Time {
	f.mu.Lock()
	f.delays = append(f.delays, d)
	f.mu.Unlock()
	fired := make(chan time.Time, 1)
	fired <- time.Time{}
	return fired
}

func (f *fakeTimer) String() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return fmt.Sprint(f.delays)
}

func TestBackoffAfterErrorsAndReset(t *testing.T) {
	s := resources.New(resources.Config{})
	timer := &fakeTimer{}
	log, hook := test.NewNullLogger()
	failUntil := 8 // runs 1..7 fail, run 8 succeeds
	c := &fake{name: "flaky", inputs: []Input{{"test", "In"}}}
	c.fn = func(context.Context, *Runtime) error {
		if n := c.count(); n < failUntil || n == failUntil+1 {
			return fmt.Errorf("attempt %d broke", n)
		}
		return nil
	}
	m := NewManager(s, Config{Log: log, After: timer.After})
	m.Register(c)
	start(t, m)

	eventually(t, "success after seven failures", func() bool { return c.count() == failUntil })
	want := "[1s 2s 4s 8s 16s 30s 30s]"
	eventually(t, "delays "+want, func() bool { return timer.String() == want })

	set(t, s, "In", "x", 1) // run 9 fails: the backoff starts again at 1 s
	eventually(t, "retry after a reset backoff", func() bool { return c.count() == failUntil+2 })
	if got, want := timer.String(), "[1s 2s 4s 8s 16s 30s 30s 1s]"; got != want {
		t.Errorf("delays %s, want %s", got, want)
	}

	entry := hook.AllEntries()[0]
	if entry.Data["controller"] != "flaky" || entry.Level != logrus.ErrorLevel || !strings.Contains(fmt.Sprint(entry.Data[logrus.ErrorKey]), "attempt 1 broke") {
		t.Errorf("log entry %v %q %v, want the error with the controller's name", entry.Level, entry.Message, entry.Data)
	}
}

func TestPanicIsAnError(t *testing.T) {
	s := resources.New(resources.Config{})
	timer := &fakeTimer{}
	c := &fake{name: "panicky"}
	c.fn = func(context.Context, *Runtime) error {
		if c.count() == 1 {
			panic("boom")
		}
		return nil
	}
	m := NewManager(s, Config{After: timer.After})
	m.Register(c)
	start(t, m)
	eventually(t, "a retry after the panic", func() bool { return c.count() == 2 })
}

func TestRegisterRejects(t *testing.T) {
	s := resources.New(resources.Config{})
	m := NewManager(s, Config{})
	if err := m.Register(&fake{name: "a", outputs: []Output{{"Out"}}}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*fake{
		{name: "b", outputs: []Output{{"Other"}, {"Out"}}},
		{name: "a", outputs: []Output{{"Else"}}},
		{name: "", outputs: []Output{{"Else"}}},
		{name: "c", inputs: []Input{{"", "In"}}},
		{name: "d", outputs: []Output{{""}}},
	} {
		if err := m.Register(c); err == nil {
			t.Errorf("Register(%q, %v, %v) accepted", c.name, c.inputs, c.outputs)
		}
	}
	// The claim reaches the store: nobody else may write the type either.
	if _, err := s.Create(resources.Resource{Metadata: resources.Metadata{Namespace: "test", Type: "Out", ID: "x", Owner: "api"}, Spec: 1}); !errors.Is(err, resources.ErrOwner) {
		t.Errorf("direct write of a controller's output = %v, want ErrOwner", err)
	}

	start(t, m)
	time.Sleep(10 * time.Millisecond)
	if err := m.Register(&fake{name: "late"}); err == nil {
		t.Error("Register after Run accepted")
	}
}

func TestRuntimeEnforcesDeclarations(t *testing.T) {
	s := resources.New(resources.Config{})
	set(t, s, "In", "x", 1)
	set(t, s, "Secret", "x", 1)
	c := &fake{name: "c", inputs: []Input{{"test", "In"}}, outputs: []Output{{"Out"}}}
	r := NewRuntime(s, c)
	ctx := context.Background()

	if _, err := r.Get("test", "In", "x"); err != nil {
		t.Errorf("read of an input: %v", err)
	}
	if _, err := r.Get("test", "Secret", "x"); !errors.Is(err, ErrNotInput) {
		t.Errorf("read of an undeclared type = %v, want ErrNotInput", err)
	}
	if _, err := r.List("other", "In"); !errors.Is(err, ErrNotInput) {
		t.Errorf("an input is one namespace; List elsewhere = %v", err)
	}
	if _, err := r.Set(ctx, "test", "In", "x", 2); !errors.Is(err, ErrNotOutput) {
		t.Errorf("write of an input = %v, want ErrNotOutput", err)
	}
	if err := r.Delete("test", "In", "x"); !errors.Is(err, ErrNotOutput) {
		t.Errorf("delete of an input = %v, want ErrNotOutput", err)
	}
	if err := r.Cleanup("test", "In", nil); !errors.Is(err, ErrNotOutput) {
		t.Errorf("cleanup of an input = %v, want ErrNotOutput", err)
	}
	out, err := r.Set(ctx, "test", "Out", "y", 3)
	if err != nil || out.Owner != "c" {
		t.Fatalf("write of an output: %+v, %v", out.Metadata, err)
	}
	if got, err := r.List("test", "Out"); err != nil || len(got) != 1 {
		t.Errorf("a controller reads its own outputs: %v, %v", got, err)
	}
}

func TestCleanupKeepsOnlyWhatIsProduced(t *testing.T) {
	s := resources.New(resources.Config{})
	c := &fake{name: "c", outputs: []Output{{"Out"}}}
	r := NewRuntime(s, c)
	for _, id := range []string{"a", "b", "c"} {
		r.Set(context.Background(), "test", "Out", id, id)
	}
	r.Set(context.Background(), "elsewhere", "Out", "a", "a")
	if err := r.Cleanup("test", "Out", []string{"b"}); err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, ns := range []string{"test", "elsewhere"} {
		for _, res := range s.List(ns, "Out") {
			left = append(left, ns+"/"+res.ID)
		}
	}
	if fmt.Sprint(left) != "[test/b elsewhere/a]" {
		t.Errorf("left %v, want [test/b elsewhere/a]", left)
	}
}

func TestControllersListsDeclarations(t *testing.T) {
	m := NewManager(resources.New(resources.Config{}), Config{})
	m.Register(double())
	m.Register(plusOne())
	got := fmt.Sprint(m.Controllers())
	if want := "[{double [{test Source}] [{Doubled}]} {plusOne [{test Doubled}] [{Final}]}]"; got != want {
		t.Errorf("Controllers() = %s, want %s", got, want)
	}
}

func TestSpecIsTypedAndNilWhenAbsent(t *testing.T) {
	s := resources.New(resources.Config{})
	r := NewRuntime(s, &fake{name: "c", inputs: []Input{{"test", "In"}}})
	if got, err := Spec[int](r, "test", "In", "x"); got != nil || err != nil {
		t.Errorf("absent: %v, %v", got, err)
	}
	seven := 7
	if _, err := s.Set(context.Background(), "test", "In", "x", "test", &seven); err != nil {
		t.Fatal(err)
	}
	if got, err := Spec[int](r, "test", "In", "x"); err != nil || got == nil || *got != 7 {
		t.Errorf("present: %v, %v", got, err)
	}
	if _, err := Spec[string](r, "test", "In", "x"); err == nil {
		t.Error("an int read as a string")
	}
	if _, err := Spec[int](r, "test", "Other", "x"); !errors.Is(err, ErrNotInput) {
		t.Errorf("undeclared: %v", err)
	}
}
