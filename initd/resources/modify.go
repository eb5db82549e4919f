package resources

import (
	"context"
	"errors"
)

// Modify creates or updates one resource as owner: change receives a copy of the current
// spec (nil if the resource does not exist) and returns the spec to store. Modify retries
// when another writer got in between, so change may run more than once and should only
// compute. Errors from change come back unwrapped; a nil spec from change is ErrInvalid.
// Modify never holds the store's lock while change runs, so change may read the store.
func (s *Store) Modify(ctx context.Context, namespace, typ, id, owner string, change func(spec any) (any, error)) (Resource, error) {
	md := Metadata{Namespace: namespace, Type: typ, ID: id, Owner: owner}
	for {
		if err := ctx.Err(); err != nil {
			return Resource{}, err
		}
		r, err := s.modifyOnce(md, change)
		if errors.Is(err, ErrConflict) || errors.Is(err, ErrExists) || errors.Is(err, ErrNotFound) {
			continue // someone wrote, created or deleted it since we read: read again
		}
		return r, err
	}
}

func (s *Store) modifyOnce(md Metadata, change func(spec any) (any, error)) (Resource, error) {
	current, err := s.Get(md.Namespace, md.Type, md.ID)
	exists := err == nil
	spec, err := change(current.Spec)
	if err != nil {
		return Resource{}, err
	}
	next := Resource{Metadata: md, Spec: spec}
	if !exists {
		return s.Create(next)
	}
	next.Version = current.Version
	return s.Update(next)
}

// Set makes one resource hold spec as owner, whatever it held before (Modify without a
// look at the current spec).
func (s *Store) Set(ctx context.Context, namespace, typ, id, owner string, spec any) (Resource, error) {
	return s.Modify(ctx, namespace, typ, id, owner, func(any) (any, error) { return spec, nil })
}
