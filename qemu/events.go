package qemu

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"sync"

	"github.com/kiln-os/kiln/initd/events"
)

// maxEventLine bounds one JSON line from the guest.
const maxEventLine = 1 << 20

// eventLog collects the events read from the kiln.events port, in arrival order.
type eventLog struct {
	mu      sync.Mutex
	all     []events.Event
	bad     int // lines that did not parse
	changed chan struct{}
}

func newEventLog() *eventLog {
	return &eventLog{changed: make(chan struct{})}
}

// readFrom parses lines from r until EOF, copying every raw line to raw (if not nil).
// A line that does not parse is counted and reported through logf, never fatal. A line
// over maxEventLine ends parsing, but r is still drained so the guest never blocks.
func (l *eventLog) readFrom(r io.Reader, raw io.Writer, logf func(string, ...any)) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxEventLine)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		if raw != nil {
			fmt.Fprintf(raw, "%s\n", line)
		}
		l.add(line, logf)
	}
	if err := sc.Err(); err != nil {
		logf("qemu: events: %v; ignoring the rest of the stream", err)
		io.Copy(io.Discard, r)
	}
}

func (l *eventLog) add(line []byte, logf func(string, ...any)) {
	e, err := events.Parse(line)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		l.bad++
		logf("qemu: %v", err)
		return
	}
	l.all = append(l.all, e)
	close(l.changed)
	l.changed = make(chan struct{})
}

// find returns the first event from index from on that matches, its index (or the
// number of events when none does) and a channel closed when the next event arrives.
func (l *eventLog) find(from int, match func(events.Event) bool) (events.Event, int, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := from; i < len(l.all); i++ {
		if match(l.all[i]) {
			return l.all[i], i, nil
		}
	}
	return events.Event{}, len(l.all), l.changed
}

// snapshot returns a copy of all events so far.
func (l *eventLog) snapshot() []events.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]events.Event(nil), l.all...)
}

// summary lists the last n events, for error messages.
func (l *eventLog) summary(n int) string {
	all := l.snapshot()
	if len(all) > n {
		all = all[len(all)-n:]
	}
	var s string
	for _, e := range all {
		s += e.String() + "\n"
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.bad > 0 {
		s += fmt.Sprintf("(%d unparsable event lines)\n", l.bad)
	}
	return s
}

// Match returns a matcher for events with the given type, name and state; an empty
// string matches anything.
func Match(typ, name, state string) func(events.Event) bool {
	return func(e events.Event) bool {
		return (typ == "" || e.Type == typ) &&
			(name == "" || e.Name == name) &&
			(state == "" || e.State == state)
	}
}

// Failed matches any event in state failed: pass it with Any to stop waiting early.
func Failed(e events.Event) bool { return e.State == events.StateFailed }

// Any matches an event that any of matchers matches.
func Any(matchers ...func(events.Event) bool) func(events.Event) bool {
	return func(e events.Event) bool {
		for _, m := range matchers {
			if m(e) {
				return true
			}
		}
		return false
	}
}
