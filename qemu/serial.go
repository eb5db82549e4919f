package qemu

import (
	"bytes"
	"io"
	"strings"
	"sync"
)

// serialKeep is how much console is kept in memory (at least; up to twice as much, so
// that trimming is rare). The log file keeps everything.
const serialKeep = 16 << 20

// serialLog receives the serial console (QEMU's stdout) and fans it out to the log file,
// an in-memory copy for WaitSerial and an optional tee. It never returns an error to its
// writer: losing a diagnostic copy must not stall the guest.
type serialLog struct {
	mu      sync.Mutex
	buf     []byte
	dropped int64 // bytes trimmed from the front of buf so far
	file    io.Writer
	tee     io.Writer
	changed chan struct{} // closed and replaced on every write
}

func newSerialLog(file, tee io.Writer) *serialLog {
	return &serialLog{file: file, tee: tee, changed: make(chan struct{})}
}

func (s *serialLog) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.file != nil {
		if _, err := s.file.Write(p); err != nil {
			s.file = nil
		}
	}
	if s.tee != nil {
		if _, err := s.tee.Write(p); err != nil {
			s.tee = nil
		}
	}
	s.buf = append(s.buf, p...)
	if len(s.buf) > 2*serialKeep {
		over := len(s.buf) - serialKeep
		s.buf = append(s.buf[:0], s.buf[over:]...)
		s.dropped += int64(over)
	}
	close(s.changed)
	s.changed = make(chan struct{})
	return len(p), nil
}

// String returns the console kept so far.
func (s *serialLog) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return string(s.buf)
}

// find reports whether substr is in the console at or after the absolute offset from.
// It also returns the offset to search from next time (so that waiting does not rescan
// the whole console on every write) and a channel closed on the next write.
func (s *serialLog) find(substr string, from int64) (found bool, next int64, changed <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	start := max(from-s.dropped, 0)
	found = bytes.Contains(s.buf[start:], []byte(substr))
	// A match may straddle the end: resume len(substr)-1 bytes back.
	next = max(s.dropped+int64(len(s.buf))-int64(len(substr))+1, from)
	return found, next, s.changed
}

// tail returns the last n lines of the console, for error messages.
func (s *serialLog) tail(n int) string {
	return lastLines(s.String(), n)
}

func lastLines(text string, n int) string {
	lines := strings.Split(strings.TrimRight(text, "\r\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, "\r")
	}
	return strings.Join(lines, "\n")
}
