package resources

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Config tunes a Store; zero fields take the defaults in brackets.
type Config struct {
	Now         func() time.Time // stamps Created and Updated [time.Now]
	WatchBuffer int              // live events one watcher may have pending [256]
	History     int              // recent events kept for WatchOptions.TailEvents [1024]
}

func (c Config) withDefaults() Config {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.WatchBuffer <= 0 {
		c.WatchBuffer = 256
	}
	if c.History <= 0 {
		c.History = 1024
	}
	return c
}

// Store holds resources in memory. It is safe for concurrent use.
type Store struct {
	cfg Config

	mu       sync.Mutex
	kinds    map[kind]map[string]*entry // namespace+type → id → current entry
	claims   map[string]string          // type → the only owner that may write it
	watchers map[*watcher]struct{}
	history  history
}

// New returns an empty store.
func New(cfg Config) *Store {
	cfg = cfg.withDefaults()
	return &Store{
		cfg:      cfg,
		kinds:    map[kind]map[string]*entry{},
		claims:   map[string]string{},
		watchers: map[*watcher]struct{}{},
		history:  history{max: cfg.History},
	}
}

// Get returns a copy of one resource, or an error wrapping ErrNotFound.
func (s *Store) Get(namespace, typ, id string) (Resource, error) {
	s.mu.Lock()
	e := s.kinds[kind{namespace, typ}][id]
	s.mu.Unlock()
	if e == nil {
		return Resource{}, fmt.Errorf("%w: %s/%s/%s", ErrNotFound, namespace, typ, id)
	}
	return e.resource(), nil
}

// List returns copies of every resource of a namespace and type, sorted by id.
func (s *Store) List(namespace, typ string) []Resource {
	s.mu.Lock()
	entries := s.sortedLocked(kind{namespace, typ})
	s.mu.Unlock()
	out := make([]Resource, len(entries))
	for i, e := range entries {
		out[i] = e.resource()
	}
	return out
}

func (s *Store) sortedLocked(k kind) []*entry {
	byID := s.kinds[k]
	entries := make([]*entry, 0, len(byID))
	for _, e := range byID {
		entries = append(entries, e)
	}
	slices.SortFunc(entries, func(a, b *entry) int { return strings.Compare(a.meta.ID, b.meta.ID) })
	return entries
}

// Claim reserves typ, in every namespace, for owner: from now on only owner may write
// resources of that type. It fails with ErrOwner if another owner claimed the type or
// already owns a resource of it. Claiming a type twice for the same owner is allowed.
func (s *Store) Claim(typ, owner string) error {
	if typ == "" || owner == "" {
		return fmt.Errorf("%w: a claim needs a type and an owner", ErrInvalid)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if have, ok := s.claims[typ]; ok && have != owner {
		return fmt.Errorf("%w: type %s is claimed by %q, not %q", ErrOwner, typ, have, owner)
	}
	for k, byID := range s.kinds {
		for _, e := range byID {
			if k.typ == typ && e.meta.Owner != owner {
				return fmt.Errorf("%w: %s is owned by %q, so %q cannot claim its type", ErrOwner, e.meta, e.meta.Owner, owner)
			}
		}
	}
	s.claims[typ] = owner
	return nil
}

// checkOwnerLocked says whether owner may write md's resource, given its current entry.
func (s *Store) checkOwnerLocked(md Metadata, owner string, current *entry) error {
	if have, ok := s.claims[md.Type]; ok && have != owner {
		return fmt.Errorf("%w: type %s belongs to %q, written by %q", ErrOwner, md.Type, have, owner)
	}
	if current != nil && current.meta.Owner != owner {
		return fmt.Errorf("%w: %s belongs to %q, written by %q", ErrOwner, md, current.meta.Owner, owner)
	}
	return nil
}
