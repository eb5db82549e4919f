package resources

import (
	"bytes"
	"fmt"
)

// Create adds a resource at version 1 and returns what was stored. It fails with ErrExists
// if the id is taken and ErrOwner if another owner claimed the type.
func (s *Store) Create(r Resource) (Resource, error) {
	if err := r.validate(); err != nil {
		return Resource{}, err
	}
	now := s.cfg.Now()
	md := r.Metadata
	md.Version, md.Created, md.Updated = 1, now, now
	e, err := newEntry(md, r.Spec)
	if err != nil {
		return Resource{}, err
	}
	if err := s.create(e); err != nil {
		return Resource{}, err
	}
	return e.resource(), nil // copied outside the lock: a JSON round trip is not free
}

func (s *Store) create(e *entry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkOwnerLocked(e.meta, e.meta.Owner, nil); err != nil {
		return err
	}
	if s.kinds[e.meta.kind()][e.meta.ID] != nil {
		return fmt.Errorf("%w: %s", ErrExists, e.meta)
	}
	s.putLocked(EventCreated, e)
	return nil
}

// Update replaces the spec of a resource whose current version is r.Version and returns
// what was stored. It fails with ErrNotFound, ErrOwner, or ErrConflict if the resource
// changed since r.Version was read. A spec equal to the stored one changes nothing.
func (s *Store) Update(r Resource) (Resource, error) {
	if err := r.validate(); err != nil {
		return Resource{}, err
	}
	e, err := newEntry(r.Metadata, r.Spec)
	if err != nil {
		return Resource{}, err
	}
	stored, err := s.update(e)
	if err != nil {
		return Resource{}, err
	}
	return stored.resource(), nil
}

// update stores e over the current version it names and returns the entry now stored.
func (s *Store) update(e *entry) (*entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	current := s.kinds[e.meta.kind()][e.meta.ID]
	if current == nil {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, e.meta)
	}
	if err := s.checkOwnerLocked(e.meta, e.meta.Owner, current); err != nil {
		return nil, err
	}
	if current.meta.Version != e.meta.Version {
		return nil, fmt.Errorf("%w: %s is at version %d, the update was based on %d", ErrConflict, e.meta, current.meta.Version, e.meta.Version)
	}
	if bytes.Equal(current.raw, e.raw) {
		return current, nil
	}
	e.meta = current.meta
	e.meta.Version++
	e.meta.Updated = s.cfg.Now()
	s.putLocked(EventUpdated, e)
	return e, nil
}

// Delete removes a resource. It fails with ErrNotFound or ErrOwner.
func (s *Store) Delete(namespace, typ, id, owner string) error {
	md := Metadata{Namespace: namespace, Type: typ, ID: id}
	s.mu.Lock()
	defer s.mu.Unlock()
	current := s.kinds[md.kind()][id]
	if current == nil {
		return fmt.Errorf("%w: %s", ErrNotFound, md)
	}
	if err := s.checkOwnerLocked(md, owner, current); err != nil {
		return err
	}
	delete(s.kinds[md.kind()], id)
	if len(s.kinds[md.kind()]) == 0 {
		delete(s.kinds, md.kind())
	}
	s.announceLocked(EventDestroyed, current)
	return nil
}

// putLocked stores e as the current version of its resource and announces it.
func (s *Store) putLocked(t EventType, e *entry) {
	k := e.meta.kind()
	if s.kinds[k] == nil {
		s.kinds[k] = map[string]*entry{}
	}
	s.kinds[k][e.meta.ID] = e
	s.announceLocked(t, e)
}
