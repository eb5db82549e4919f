package resources

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// next reads one event or fails the test after a second.
func next(t *testing.T, events <-chan Event) Event {
	t.Helper()
	select {
	case ev, ok := <-events:
		if !ok {
			t.Fatal("watch channel closed")
		}
		return ev
	case <-time.After(time.Second):
		t.Fatal("no event within 1s")
	}
	return Event{}
}

// describe renders an event as "TYPE id@version" for compact comparisons.
func describe(ev Event) string {
	if ev.Type == EventBootstrapped || ev.Type == EventErrored {
		return ev.Type.String()
	}
	return fmt.Sprintf("%s %s@%d", ev.Type, ev.Resource.ID, ev.Resource.Version)
}

func expect(t *testing.T, events <-chan Event, want ...string) {
	t.Helper()
	for _, w := range want {
		if got := describe(next(t, events)); got != w {
			t.Fatalf("event %q, want %q", got, w)
		}
	}
}

func watchers(s *Store) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.watchers)
}

func TestWatchSnapshotBootstrappedLive(t *testing.T) {
	s, _ := newTestStore()
	s.Create(link("eth1", "network"))
	s.Create(link("eth0", "network"))
	s.Create(Resource{Metadata: Metadata{Namespace: NamespaceNetwork, Type: "Other", ID: "x", Owner: "o"}, Spec: 1})

	events, err := s.Watch(context.Background(), NamespaceNetwork, TypeLinkStatus, "", WatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	expect(t, events, "CREATED eth0@1", "CREATED eth1@1", "BOOTSTRAPPED")

	r, _ := s.Get(NamespaceNetwork, TypeLinkStatus, "eth0")
	r.Spec = testSpec{Name: "eth0", Addrs: []string{"x"}}
	s.Update(r)
	s.Create(Resource{Metadata: Metadata{Namespace: NamespaceNetwork, Type: "Other", ID: "y", Owner: "o"}, Spec: 2})
	s.Create(link("eth2", "network"))
	s.Delete(NamespaceNetwork, TypeLinkStatus, "eth1", "network")
	expect(t, events, "UPDATED eth0@2", "CREATED eth2@1", "DESTROYED eth1@1")
}

func TestWatchOneID(t *testing.T) {
	s, _ := newTestStore()
	s.Create(link("eth0", "network"))
	events, _ := s.Watch(context.Background(), NamespaceNetwork, TypeLinkStatus, "eth1", WatchOptions{})
	expect(t, events, "BOOTSTRAPPED")
	s.Create(link("eth2", "network"))
	s.Create(link("eth1", "network"))
	expect(t, events, "CREATED eth1@1")
}

func TestWatchEventsAreCopies(t *testing.T) {
	s, _ := newTestStore()
	s.Create(link("eth0", "network", "a"))
	events, _ := s.Watch(context.Background(), NamespaceNetwork, TypeLinkStatus, "", WatchOptions{})
	next(t, events).Resource.Spec.(testSpec).Addrs[0] = "changed by a watcher"
	got, _ := s.Get(NamespaceNetwork, TypeLinkStatus, "eth0")
	if a := got.Spec.(testSpec).Addrs[0]; a != "a" {
		t.Errorf("watcher changed the stored spec to %q", a)
	}
}

// A watcher that does not read must not block writers; it gets ErrWatchOverflow.
func TestWatchOverflow(t *testing.T) {
	s := New(Config{WatchBuffer: 4})
	s.Create(link("eth0", "network"))
	events, _ := s.Watch(context.Background(), NamespaceNetwork, TypeLinkStatus, "", WatchOptions{})

	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 100 {
			s.Create(link(fmt.Sprintf("x%03d", i), "network"))
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("writers blocked by a watcher that does not read")
	}

	var last Event
	for open := true; open; {
		select {
		case ev, ok := <-events:
			if open = ok; ok {
				last = ev
			}
		case <-time.After(time.Second):
			t.Fatal("the watch of a reader that fell behind did not end")
		}
	}
	if last.Type != EventErrored || !errors.Is(last.Err, ErrWatchOverflow) {
		t.Errorf("last event %s (%v), want ERRORED with ErrWatchOverflow", describe(last), last.Err)
	}
	if n := watchers(s); n != 0 {
		t.Errorf("%d watchers still registered after overflow", n)
	}
}

// The snapshot does not count against the buffer: a big type can still be watched.
func TestWatchSnapshotLargerThanBuffer(t *testing.T) {
	s := New(Config{WatchBuffer: 2})
	for i := range 10 {
		s.Create(link(fmt.Sprintf("x%d", i), "network"))
	}
	events, _ := s.Watch(context.Background(), NamespaceNetwork, TypeLinkStatus, "", WatchOptions{})
	for range 10 {
		if ev := next(t, events); ev.Type != EventCreated {
			t.Fatalf("snapshot event %s", describe(ev))
		}
	}
	expect(t, events, "BOOTSTRAPPED")
}

func TestWatchEndsWithContext(t *testing.T) {
	s, _ := newTestStore()
	ctx, cancel := context.WithCancel(context.Background())
	events, _ := s.Watch(ctx, NamespaceNetwork, TypeLinkStatus, "", WatchOptions{})
	expect(t, events, "BOOTSTRAPPED")
	cancel()
	select {
	case _, ok := <-events:
		if ok {
			t.Error("event after cancel")
		}
	case <-time.After(time.Second):
		t.Fatal("channel still open 1s after cancel")
	}
	if n := watchers(s); n != 0 {
		t.Errorf("%d watchers still registered after cancel", n)
	}
	s.Create(link("eth0", "network")) // must not block or panic on a closed channel
}

func TestWatchTailEvents(t *testing.T) {
	s, _ := newTestStore()
	s.Create(link("eth0", "network", "a"))
	s.Create(link("eth1", "network"))
	r, _ := s.Get(NamespaceNetwork, TypeLinkStatus, "eth0")
	r.Spec = testSpec{Name: "eth0", Addrs: []string{"b"}}
	s.Update(r)
	s.Delete(NamespaceNetwork, TypeLinkStatus, "eth1", "network")

	events, _ := s.Watch(context.Background(), NamespaceNetwork, TypeLinkStatus, "", WatchOptions{TailEvents: 3})
	expect(t, events, "CREATED eth1@1", "UPDATED eth0@2", "DESTROYED eth1@1", "BOOTSTRAPPED")

	events, _ = s.Watch(context.Background(), NamespaceNetwork, TypeLinkStatus, "eth0", WatchOptions{TailEvents: 10})
	expect(t, events, "CREATED eth0@1", "UPDATED eth0@2", "BOOTSTRAPPED")
}

func TestHistoryIsBounded(t *testing.T) {
	s := New(Config{History: 3})
	for i := range 5 {
		s.Create(link(fmt.Sprintf("x%d", i), "network"))
	}
	events, _ := s.Watch(context.Background(), NamespaceNetwork, TypeLinkStatus, "", WatchOptions{TailEvents: 10})
	expect(t, events, "CREATED x2@1", "CREATED x3@1", "CREATED x4@1", "BOOTSTRAPPED")
}

func TestWatchRejects(t *testing.T) {
	s, _ := newTestStore()
	if _, err := s.Watch(context.Background(), "", TypeLinkStatus, "", WatchOptions{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("watch without namespace: %v", err)
	}
	if _, err := s.Watch(context.Background(), NamespaceNetwork, TypeLinkStatus, "", WatchOptions{TailEvents: -1}); !errors.Is(err, ErrInvalid) {
		t.Errorf("negative TailEvents: %v", err)
	}
}

// Under concurrent writers a reading watcher sees every version of a resource in order.
func TestWatchSeesVersionsInOrder(t *testing.T) {
	s := New(Config{WatchBuffer: 10000})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events, _ := s.Watch(ctx, "test", "Counter", "", WatchOptions{})
	expect(t, events, "BOOTSTRAPPED")
	const writers, each = 4, 100
	for w := range writers {
		go func() {
			for range each {
				s.Modify(ctx, "test", "Counter", fmt.Sprint(w), "counter", func(spec any) (any, error) {
					n, _ := spec.(int)
					return n + 1, nil
				})
			}
		}()
	}
	seen := map[string]uint64{}
	for range writers * each {
		ev := next(t, events)
		if ev.Resource.Version != seen[ev.Resource.ID]+1 || ev.Resource.Spec.(int) != int(ev.Resource.Version) {
			t.Fatalf("%s after version %d", describe(ev), seen[ev.Resource.ID])
		}
		seen[ev.Resource.ID] = ev.Resource.Version
	}
}
