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
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkOwnerLocked(md, md.Owner, nil); err != nil {
		return Resource{}, err
	}
	if s.kinds[md.kind()][md.ID] != nil {
		return Resource{}, fmt.Errorf("%w: %s", ErrExists, md)
	}
	s.putLocked(EventCreated, e)
	return e.resource(), nil
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
	s.mu.Lock()
	defer s.mu.Unlock()
	current := s.kinds[r.kind()][r.ID]
	if current == nil {
		return Resource{}, fmt.Errorf("%w: %s", ErrNotFound, r.Metadata)
	}
	if err := s.checkOwnerLocked(r.Metadata, r.Owner, current); err != nil {
		return Resource{}, err
	}
	if current.meta.Version != r.Version {
		return Resource{}, fmt.Errorf("%w: %s is at version %d, the update was based on %d", ErrConflict, r.Metadata, current.meta.Version, r.Version)
	}
	if bytes.Equal(current.raw, e.raw) {
		return current.resource(), nil
	}
	e.meta = current.meta
	e.meta.Version++
	e.meta.Updated = s.cfg.Now()
	s.putLocked(EventUpdated, e)
	return e.resource(), nil
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
