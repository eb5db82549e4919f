package eventsink

import (
	"context"
	"errors"

	"github.com/kiln-os/kiln/initd/events"
)

// ErrSlowSubscriber ends a subscription whose reader fell SubscriberBuffer events behind:
// PID 1 never waits for an API client.
var ErrSlowSubscriber = errors.New("eventsink: subscriber too slow; events were dropped, resubscribe")

// SubscriberBuffer is how many events a subscriber may lag behind.
const SubscriberBuffer = 256

type subscriber struct {
	ch  chan events.Event
	err error
}

// Subscribe replays the last tail events kept (all of them, at most HistorySize, when
// tail < 0), then, when follow is set, every new event until ctx ends. The channel closes
// at the end; the returned function then tells why (nil, ctx's error or
// ErrSlowSubscriber).
func (s *Sink) Subscribe(ctx context.Context, tail int, follow bool) (<-chan events.Event, func() error) {
	s.mu.Lock()
	backlog := s.lastLocked(tail)
	sub := &subscriber{ch: make(chan events.Event, len(backlog)+SubscriberBuffer)}
	for _, e := range backlog {
		sub.ch <- e
	}
	if !follow {
		close(sub.ch)
		s.mu.Unlock()
		return sub.ch, func() error { return nil }
	}
	if s.subs == nil {
		s.subs = map[*subscriber]struct{}{}
	}
	s.subs[sub] = struct{}{}
	s.mu.Unlock()
	go func() {
		<-ctx.Done()
		s.unsubscribe(sub, ctx.Err())
	}()
	return sub.ch, func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		return sub.err
	}
}

// publish hands e to every subscriber; s.mu is held.
func (s *Sink) publish(e events.Event) {
	for sub := range s.subs {
		select {
		case sub.ch <- e:
		default:
			s.closeLocked(sub, ErrSlowSubscriber)
		}
	}
}

func (s *Sink) unsubscribe(sub *subscriber, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closeLocked(sub, err)
}

func (s *Sink) closeLocked(sub *subscriber, err error) {
	if _, ok := s.subs[sub]; !ok {
		return
	}
	delete(s.subs, sub)
	sub.err = err
	close(sub.ch)
}
