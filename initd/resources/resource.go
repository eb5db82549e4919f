package resources

import (
	"errors"
	"fmt"
	"time"
)

// Errors that writes and reads return, wrapped with the resource they concern.
var (
	ErrNotFound      = errors.New("resources: not found")
	ErrExists        = errors.New("resources: already exists")
	ErrConflict      = errors.New("resources: version conflict (re-read and retry)")
	ErrOwner         = errors.New("resources: owned by another owner")
	ErrInvalid       = errors.New("resources: invalid resource")
	ErrWatchOverflow = errors.New("resources: watcher fell behind (list again and re-watch)")
)

// Metadata identifies one resource and records its history. The store sets Version,
// Created and Updated; writers set the rest.
type Metadata struct {
	Namespace string    `json:"namespace"`
	Type      string    `json:"type"`
	ID        string    `json:"id"`
	Version   uint64    `json:"version"`
	Owner     string    `json:"owner"`
	Created   time.Time `json:"created"`
	Updated   time.Time `json:"updated"`
}

// String names the resource as "namespace/Type/id".
func (m Metadata) String() string {
	return m.Namespace + "/" + m.Type + "/" + m.ID
}

// Resource is one typed piece of machine state.
type Resource struct {
	Metadata
	Spec any `json:"spec"`
}

// kind is the pair a list or a watch selects by.
type kind struct{ namespace, typ string }

func (m Metadata) kind() kind { return kind{m.Namespace, m.Type} }

// validate checks what every write needs: a full name, an owner and a spec.
func (r Resource) validate() error {
	switch {
	case r.Namespace == "" || r.Type == "" || r.ID == "":
		return fmt.Errorf("%w: %q needs a namespace, a type and an id", ErrInvalid, r.Metadata.String())
	case r.Owner == "":
		return fmt.Errorf("%w: %s: a write needs an owner", ErrInvalid, r.Metadata)
	case r.Spec == nil:
		return fmt.Errorf("%w: %s: spec is nil", ErrInvalid, r.Metadata)
	}
	return nil
}
