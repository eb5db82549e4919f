package eventsink

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kiln-os/kiln/initd/events"
)

func TestSubscribeReplaysThenFollows(t *testing.T) {
	s := New(nil, nil)
	for _, name := range []string{"a", "b", "c"} {
		s.Emit(events.Event{Type: events.TypeInfo, Name: name, State: events.StateDone})
	}
	ctx, cancel := context.WithCancel(context.Background())
	ch, why := s.Subscribe(ctx, 2, true)
	s.Emit(events.Event{Type: events.TypeInfo, Name: "d", State: events.StateDone})
	var got []string
	var seqs []uint64
	for i := 0; i < 3; i++ {
		select {
		case e := <-ch:
			got = append(got, e.Name)
			seqs = append(seqs, e.Seq)
		case <-time.After(5 * time.Second):
			t.Fatal("no event")
		}
	}
	if want := "b c d"; strings.Join(got, " ") != want || seqs[0] != 2 || seqs[2] != 4 {
		t.Errorf("got %v seq %v, want %s seq 2..4", got, seqs, want)
	}
	cancel()
	for range ch {
	}
	if err := why(); !errors.Is(err, context.Canceled) {
		t.Errorf("end reason %v", err)
	}
}

func TestSubscribeWithoutFollowCloses(t *testing.T) {
	s := New(nil, nil)
	s.Emit(events.Event{Type: events.TypeInfo, Name: "a", State: events.StateDone})
	ch, _ := s.Subscribe(context.Background(), -1, false)
	n := 0
	for range ch {
		n++
	}
	if n != 1 {
		t.Errorf("replayed %d events, want 1", n)
	}
}

func TestSlowSubscriberIsDroppedNotWaitedFor(t *testing.T) {
	s := New(nil, nil)
	ch, why := s.Subscribe(context.Background(), 0, true)
	done := make(chan struct{})
	go func() {
		for i := 0; i < SubscriberBuffer+10; i++ {
			s.Emit(events.Event{Type: events.TypeInfo, Name: "x", State: events.StateDone})
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Emit blocked on a subscriber that does not read")
	}
	n := 0
	for range ch {
		n++
	}
	if n != SubscriberBuffer || !errors.Is(why(), ErrSlowSubscriber) {
		t.Errorf("got %d events, end %v; want %d and ErrSlowSubscriber", n, why(), SubscriberBuffer)
	}
}
