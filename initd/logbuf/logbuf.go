// Package logbuf keeps the recent output of machined and of each service in memory, as
// lines, for the API's Logs call: a bounded ring per source (a node has no persistent log
// by default, DESIGN.md "Disk layout"), readable as a tail and followable.
//
// A Buffer is an io.Writer that a service's stdout/stderr or a logger writes to; partial
// lines are held until their newline (or until they reach MaxLine). Writers never block on
// readers: a follower that falls behind is dropped with ErrSlowReader.
//
// The room: memory only. It does not write files or know what a service is.
package logbuf

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"time"
)

// MaxLine is the longest line kept; longer output is split.
const MaxLine = 4096

// ErrSlowReader ends a follow whose reader fell FollowBuffer lines behind.
var ErrSlowReader = errors.New("logbuf: reader too slow; lines were dropped, read again")

// FollowBuffer is how many lines a follower may lag behind.
const FollowBuffer = 512

// Line is one line of output.
type Line struct {
	Time time.Time
	Text string
}

// Buffer holds the last Size lines of one source. Use New.
type Buffer struct {
	mu       sync.Mutex
	lines    []Line // ring
	next     int    // index of the next write in lines
	full     bool
	partial  []byte
	now      func() time.Time
	tee      func(Line)
	watchers map[*watcher]struct{}
}

type watcher struct {
	ch  chan Line
	err error
}

// New returns a buffer keeping the last size lines; tee (may be nil) sees every line too,
// e.g. to copy a service's output to the console.
func New(size int, tee func(Line)) *Buffer {
	if size < 1 {
		size = 1
	}
	return &Buffer{lines: make([]Line, size), now: time.Now, tee: tee}
}

// Write splits p into lines and keeps them. It never fails and never blocks on readers.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	data := append(b.partial, p...)
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 && len(data) < MaxLine {
			break
		}
		if i < 0 || i > MaxLine {
			i = MaxLine
		}
		b.add(string(bytes.TrimSuffix(data[:i], []byte("\r"))))
		if i < len(data) && data[i] == '\n' {
			i++
		}
		data = data[i:]
	}
	b.partial = append([]byte(nil), data...)
	return len(p), nil
}

// add stores one line; b.mu is held.
func (b *Buffer) add(text string) {
	l := Line{Time: b.now().UTC(), Text: text}
	b.lines[b.next] = l
	b.next = (b.next + 1) % len(b.lines)
	if b.next == 0 {
		b.full = true
	}
	if b.tee != nil {
		b.tee(l)
	}
	for w := range b.watchers {
		select {
		case w.ch <- l:
		default:
			b.closeLocked(w, ErrSlowReader)
		}
	}
}

// Tail returns the last n lines (all when n < 0), oldest first.
func (b *Buffer) Tail(n int) []Line {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.tailLocked(n)
}

func (b *Buffer) tailLocked(n int) []Line {
	var all []Line
	if b.full {
		all = append(all, b.lines[b.next:]...)
	}
	all = append(all, b.lines[:b.next]...)
	if n >= 0 && n < len(all) {
		all = all[len(all)-n:]
	}
	return all
}

// Follow sends the last tail lines, then every new line until ctx ends. The channel closes
// at the end; the returned function then tells why.
func (b *Buffer) Follow(ctx context.Context, tail int) (<-chan Line, func() error) {
	b.mu.Lock()
	backlog := b.tailLocked(tail)
	w := &watcher{ch: make(chan Line, len(backlog)+FollowBuffer)}
	for _, l := range backlog {
		w.ch <- l
	}
	if b.watchers == nil {
		b.watchers = map[*watcher]struct{}{}
	}
	b.watchers[w] = struct{}{}
	b.mu.Unlock()
	go func() {
		<-ctx.Done()
		b.mu.Lock()
		b.closeLocked(w, ctx.Err())
		b.mu.Unlock()
	}()
	return w.ch, func() error {
		b.mu.Lock()
		defer b.mu.Unlock()
		return w.err
	}
}

func (b *Buffer) closeLocked(w *watcher, err error) {
	if _, ok := b.watchers[w]; !ok {
		return
	}
	delete(b.watchers, w)
	w.err = err
	close(w.ch)
}
