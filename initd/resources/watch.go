package resources

import (
	"context"
	"fmt"
	"sync"
)

// WatchOptions tunes one watch.
type WatchOptions struct {
	// TailEvents, if above zero, replaces the snapshot: the watch first replays up to
	// TailEvents of the most recent changes to the selected resources, as far back as
	// the store's history reaches, then sends Bootstrapped and goes live.
	TailEvents int
}

// selector picks the resources a watch sees; an empty id selects the whole type.
type selector struct{ namespace, typ, id string }

func (s selector) matches(m Metadata) bool {
	return m.Namespace == s.namespace && m.Type == s.typ && (s.id == "" || m.ID == s.id)
}

// Watch streams the resources of one namespace and type (or only id, if not empty): first
// the current ones as EventCreated (or the history tail, see WatchOptions), then one
// EventBootstrapped, then every change. The channel closes when ctx ends, or after an
// EventErrored whose Err is ErrWatchOverflow if the reader fell too far behind.
func (s *Store) Watch(ctx context.Context, namespace, typ, id string, opts WatchOptions) (<-chan Event, error) {
	if namespace == "" || typ == "" || opts.TailEvents < 0 {
		return nil, fmt.Errorf("%w: a watch needs a namespace, a type and TailEvents >= 0", ErrInvalid)
	}
	w := &watcher{sel: selector{namespace, typ, id}, wake: make(chan struct{}, 1)}
	s.mu.Lock()
	w.queue = append(s.initialLocked(w.sel, opts), record{typ: EventBootstrapped})
	w.limit = len(w.queue) + s.cfg.WatchBuffer
	s.watchers[w] = struct{}{}
	s.mu.Unlock()

	out := make(chan Event)
	go s.pump(ctx, w, out)
	return out, nil
}

// initialLocked is what a new watch sends before Bootstrapped.
func (s *Store) initialLocked(sel selector, opts WatchOptions) []record {
	if opts.TailEvents > 0 {
		return s.history.tail(opts.TailEvents, sel)
	}
	var snapshot []record
	for _, e := range s.sortedLocked(kind{sel.namespace, sel.typ}) {
		if sel.matches(e.meta) {
			snapshot = append(snapshot, record{typ: EventCreated, entry: e})
		}
	}
	return snapshot
}

// announceLocked records a change and queues it for every watcher that selects it.
func (s *Store) announceLocked(t EventType, e *entry) {
	rec := record{typ: t, entry: e}
	s.history.add(rec)
	for w := range s.watchers {
		if w.sel.matches(e.meta) && !w.push(rec) {
			delete(s.watchers, w) // overflowed: it hears nothing more
		}
	}
}

// pump delivers a watcher's queue to its channel until ctx ends or the watch errors.
func (s *Store) pump(ctx context.Context, w *watcher, out chan<- Event) {
	defer close(out)
	defer s.unwatch(w)
	for {
		rec, ok := w.pop(ctx)
		if !ok {
			return
		}
		select {
		case out <- rec.event():
		case <-ctx.Done():
			return
		}
		if rec.typ == EventErrored {
			return
		}
	}
}

func (s *Store) unwatch(w *watcher) {
	s.mu.Lock()
	delete(s.watchers, w)
	s.mu.Unlock()
}

// watcher is one watch's queue between the writers (under the store's lock) and its pump.
type watcher struct {
	sel   selector
	limit int           // records the queue may hold before the watch overflows
	wake  chan struct{} // a token whenever the queue grows

	mu       sync.Mutex
	queue    []record
	overflow bool
}

// push queues rec and reports whether the watcher still listens. On overflow the queue
// is replaced by one error: the reader must re-list anyway, so older events are moot.
func (w *watcher) push(rec record) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.overflow {
		return false
	}
	if len(w.queue) >= w.limit {
		w.overflow = true
		w.queue = []record{{typ: EventErrored, err: ErrWatchOverflow}}
	} else {
		w.queue = append(w.queue, rec)
	}
	select {
	case w.wake <- struct{}{}:
	default:
	}
	return !w.overflow
}

// pop takes the oldest queued record, waiting for one; false when ctx ends first.
func (w *watcher) pop(ctx context.Context) (record, bool) {
	for {
		w.mu.Lock()
		if len(w.queue) > 0 {
			rec := w.queue[0]
			w.queue[0] = record{} // let the entry go
			w.queue = w.queue[1:]
			w.mu.Unlock()
			return rec, true
		}
		w.mu.Unlock()
		select {
		case <-w.wake:
		case <-ctx.Done():
			return record{}, false
		}
	}
}
