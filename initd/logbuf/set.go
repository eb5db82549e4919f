package logbuf

import (
	"sort"
	"sync"
)

// DefaultSize is the number of lines kept per source.
const DefaultSize = 5000

// Set is the buffers of every source by name ("machined", a service name).
type Set struct {
	mu      sync.Mutex
	buffers map[string]*Buffer
	tee     func(source string, l Line)
}

// NewSet returns an empty set; tee (may be nil) sees every line of every source.
func NewSet(tee func(source string, l Line)) *Set {
	return &Set{buffers: map[string]*Buffer{}, tee: tee}
}

// Get returns the buffer of source, creating it.
func (s *Set) Get(source string) *Buffer {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b, ok := s.buffers[source]; ok {
		return b
	}
	var tee func(Line)
	if s.tee != nil {
		tee = func(l Line) { s.tee(source, l) }
	}
	b := New(DefaultSize, tee)
	s.buffers[source] = b
	return b
}

// Lookup returns the buffer of source if it exists.
func (s *Set) Lookup(source string) (*Buffer, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.buffers[source]
	return b, ok
}

// Sources lists the names with a buffer, sorted.
func (s *Set) Sources() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var names []string
	for n := range s.buffers {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
