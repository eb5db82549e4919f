package resources

import "slices"

// EventType says what happened to the resource of an Event.
type EventType int

// Event types, in the order a watch meets them.
const (
	EventCreated      EventType = iota + 1 // the resource exists (also: the initial snapshot)
	EventUpdated                           // the resource has a new version
	EventDestroyed                         // the resource is gone; Resource is its last version
	EventBootstrapped                      // the initial snapshot is complete; Resource is empty
	EventErrored                           // the watch ended; Err says why
)

func (t EventType) String() string {
	switch t {
	case EventCreated:
		return "CREATED"
	case EventUpdated:
		return "UPDATED"
	case EventDestroyed:
		return "DESTROYED"
	case EventBootstrapped:
		return "BOOTSTRAPPED"
	case EventErrored:
		return "ERRORED"
	}
	return "UNKNOWN"
}

// Event is one change seen by a watch. Resource is the watcher's own copy.
type Event struct {
	Type     EventType
	Resource Resource
	Err      error
}

// record is an event inside the store: it shares the immutable entry instead of a copy.
type record struct {
	typ   EventType
	entry *entry
	err   error
}

// event turns a record into the Event a watcher receives, copying the spec.
func (r record) event() Event {
	ev := Event{Type: r.typ, Err: r.err}
	if r.entry != nil {
		ev.Resource = r.entry.resource()
	}
	return ev
}

// history is a ring of the store's most recent changes.
type history struct {
	max     int
	records []record // grows to max, then next overwrites the oldest
	next    int
}

func (h *history) add(r record) {
	if len(h.records) < h.max {
		h.records = append(h.records, r)
		return
	}
	h.records[h.next] = r
	h.next = (h.next + 1) % h.max
}

// tail returns up to n of the most recent records that sel matches, oldest first.
func (h *history) tail(n int, sel selector) []record {
	var out []record
	for i := 0; i < len(h.records) && len(out) < n; i++ {
		newestFirst := (h.next - 1 - i + 2*len(h.records)) % len(h.records)
		if r := h.records[newestFirst]; sel.matches(r.entry.meta) {
			out = append(out, r)
		}
	}
	slices.Reverse(out)
	return out
}
