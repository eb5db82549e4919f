package resources

import (
	"encoding/json"
	"fmt"
	"reflect"
)

// Cloner is implemented by specs that copy themselves faster than a JSON round trip.
// DeepCopy must return a value of the same type that shares no memory with the receiver.
type Cloner interface {
	DeepCopy() any
}

// entry is one stored version of a resource. It is never changed once made: a write
// replaces the entry, so readers, events and history may share it without a lock.
type entry struct {
	meta Metadata
	spec any    // the store's own copy; handed out only through clone
	raw  []byte // spec as JSON: the equality test and the source of copies
}

// newEntry encodes spec and keeps a private copy of it.
func newEntry(meta Metadata, spec any) (*entry, error) {
	raw, err := json.Marshal(spec)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: spec does not encode to JSON: %w", ErrInvalid, meta, err)
	}
	e := &entry{meta: meta, raw: raw}
	if e.spec, err = copySpec(spec, raw); err != nil {
		return nil, fmt.Errorf("%w: %s: spec does not decode from its own JSON: %w", ErrInvalid, meta, err)
	}
	return e, nil
}

// resource returns a copy the caller may keep and change.
func (e *entry) resource() Resource {
	spec, err := copySpec(e.spec, e.raw)
	if err != nil {
		// newEntry decoded the same bytes into the same type already.
		panic(fmt.Sprintf("resources: %s: copy of a stored spec: %v", e.meta, err))
	}
	return Resource{Metadata: e.meta, Spec: spec}
}

// copySpec returns a deep copy of spec, whose JSON encoding is raw.
func copySpec(spec any, raw []byte) (any, error) {
	if c, ok := spec.(Cloner); ok {
		return c.DeepCopy(), nil
	}
	fresh := reflect.New(reflect.TypeOf(spec))
	if err := json.Unmarshal(raw, fresh.Interface()); err != nil {
		return nil, err
	}
	return fresh.Elem().Interface(), nil
}
