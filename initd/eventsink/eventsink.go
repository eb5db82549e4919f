// Package eventsink is where machined's events go: a JSON line to the virtio-serial port
// named kiln.events when the machine has one, a human line on the console, and an
// in-memory history that the API replays later, bounded to the newest HistorySize events.
//
// Writes to the port happen on their own goroutine behind a bounded queue, so a host that
// stops reading can never block PID 1; when the queue is full, events are dropped from the
// port (never from the history) and the drop is counted.
package eventsink

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/kiln-os/kiln/initd/events"
)

// HistorySize is how many events the sink keeps for replay. A boot emits a few hundred,
// so the e2e tests' `events --tail -1` still sees the whole boot, while a caller that
// makes machined emit without end (restarts, applies) costs PID 1 at most about 4 MiB
// (an event with its strings is ~420 bytes). A `--tail -1` subscriber's queue holds
// HistorySize+SubscriberBuffer event values (104 bytes each, strings shared): ~1 MiB,
// times machineapi.MaxStreams at most.
const HistorySize = 10000

// Sink receives events. The zero value is not usable; use New.
type Sink struct {
	mu      sync.Mutex
	console io.Writer
	history []events.Event // ring of at most HistorySize; once full, the oldest is at next
	next    int
	seq     uint64
	queue   chan []byte
	dropped int
	subs    map[*subscriber]struct{}
	now     func() time.Time
	done    chan struct{}
}

// New returns a sink writing human lines to console and JSON lines to port (nil: none).
func New(console io.Writer, port io.WriteCloser) *Sink {
	s := &Sink{console: console, now: time.Now, done: make(chan struct{})}
	if port == nil {
		close(s.done)
		return s
	}
	s.queue = make(chan []byte, 1024)
	go s.drain(port)
	return s
}

func (s *Sink) drain(port io.WriteCloser) {
	defer close(s.done)
	defer port.Close()
	for line := range s.queue {
		if _, err := port.Write(line); err != nil {
			s.mu.Lock()
			s.dropped++
			s.mu.Unlock()
		}
	}
}

// Emit records an event, stamping its time when unset.
func (s *Sink) Emit(e events.Event) {
	if e.Time.IsZero() {
		e.Time = s.now().UTC()
	}
	s.mu.Lock()
	s.seq++
	e.Seq = s.seq
	s.record(e)
	if s.console != nil {
		io.WriteString(s.console, "kiln: "+e.String()+"\n")
	}
	s.publish(e)
	s.mu.Unlock()
	if s.queue == nil {
		return
	}
	select {
	case s.queue <- e.Marshal():
	default:
		s.mu.Lock()
		s.dropped++
		s.mu.Unlock()
	}
}

// record keeps e in the history ring, overwriting the oldest event once it is full; s.mu
// is held. The ring grows by doubling up to HistorySize, so a quiet boot pays for what it
// emitted, not for the bound.
func (s *Sink) record(e events.Event) {
	if len(s.history) == HistorySize {
		s.history[s.next] = e
		s.next = (s.next + 1) % HistorySize
		return
	}
	if len(s.history) == cap(s.history) {
		grown := make([]events.Event, len(s.history), min(max(2*cap(s.history), 64), HistorySize))
		copy(grown, s.history)
		s.history = grown
	}
	s.history = append(s.history, e)
}

// lastLocked returns a copy of the newest n events kept (all of them when n < 0), oldest
// first; s.mu is held.
func (s *Sink) lastLocked(n int) []events.Event {
	kept := append(append([]events.Event(nil), s.history[s.next:]...), s.history[:s.next]...)
	if n >= 0 && n < len(kept) {
		kept = kept[len(kept)-n:]
	}
	return kept
}

// History returns a copy of the events kept: the newest HistorySize of this boot.
func (s *Sink) History() []events.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastLocked(-1)
}

// Close flushes the port queue, waiting at most timeout.
func (s *Sink) Close(timeout time.Duration) {
	if s.queue != nil {
		close(s.queue)
		s.queue = nil
	}
	select {
	case <-s.done:
	case <-time.After(timeout):
	}
}

// FindPort returns the device of the virtio-serial port with the given name, looking the
// name up in sysfs (/sys/class/virtio-ports/vportNpM/name), or "" when there is none.
func FindPort(sysClass, devDir, name string) string {
	dirs, _ := filepath.Glob(filepath.Join(sysClass, "vport*"))
	for _, d := range dirs {
		got, err := os.ReadFile(filepath.Join(d, "name"))
		if err == nil && strings.TrimSpace(string(got)) == name {
			return filepath.Join(devDir, filepath.Base(d))
		}
	}
	return ""
}
