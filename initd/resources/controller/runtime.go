package controller

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/kiln-os/kiln/initd/resources"
)

// Errors for access a controller did not declare.
var (
	ErrNotInput  = errors.New("controller: read of a type that is neither input nor output")
	ErrNotOutput = errors.New("controller: write of a type that is not an output")
)

// Runtime is a controller's view of the store: reads of its inputs and outputs, writes
// (as the controller's name) of its outputs.
type Runtime struct {
	store   *resources.Store
	owner   string
	inputs  []Input
	outputs []Output
}

// NewRuntime returns c's view of store. The Manager makes one per controller; tests of a
// single controller may call Reconcile with one directly.
func NewRuntime(store *resources.Store, c Controller) *Runtime {
	return &Runtime{store: store, owner: c.Name(), inputs: c.Inputs(), outputs: c.Outputs()}
}

// Get returns one resource of an input or output type.
func (r *Runtime) Get(namespace, typ, id string) (resources.Resource, error) {
	if err := r.checkRead(namespace, typ); err != nil {
		return resources.Resource{}, err
	}
	return r.store.Get(namespace, typ, id)
}

// List returns the resources of an input or output type, sorted by id.
func (r *Runtime) List(namespace, typ string) ([]resources.Resource, error) {
	if err := r.checkRead(namespace, typ); err != nil {
		return nil, err
	}
	return r.store.List(namespace, typ), nil
}

// Modify creates or updates an output resource (see resources.Store.Modify).
func (r *Runtime) Modify(ctx context.Context, namespace, typ, id string, change func(spec any) (any, error)) (resources.Resource, error) {
	if err := r.checkWrite(typ); err != nil {
		return resources.Resource{}, err
	}
	return r.store.Modify(ctx, namespace, typ, id, r.owner, change)
}

// Set makes an output resource hold spec, whatever it held before.
func (r *Runtime) Set(ctx context.Context, namespace, typ, id string, spec any) (resources.Resource, error) {
	return r.Modify(ctx, namespace, typ, id, func(any) (any, error) { return spec, nil })
}

// Delete removes an output resource.
func (r *Runtime) Delete(namespace, typ, id string) error {
	if err := r.checkWrite(typ); err != nil {
		return err
	}
	return r.store.Delete(namespace, typ, id, r.owner)
}

// Cleanup deletes the controller's resources of an output type in namespace whose ids
// are not in keep: what the last reconcile produced but this one no longer does.
func (r *Runtime) Cleanup(namespace, typ string, keep []string) error {
	if err := r.checkWrite(typ); err != nil {
		return err
	}
	for _, res := range r.store.List(namespace, typ) {
		if res.Owner != r.owner || slices.Contains(keep, res.ID) {
			continue
		}
		err := r.store.Delete(namespace, typ, res.ID, r.owner)
		if err != nil && !errors.Is(err, resources.ErrNotFound) {
			return err
		}
	}
	return nil
}

func (r *Runtime) checkRead(namespace, typ string) error {
	if slices.Contains(r.inputs, Input{namespace, typ}) || slices.Contains(r.outputs, Output{typ}) {
		return nil
	}
	return fmt.Errorf("%w: %s reads %s/%s; declare it in Inputs", ErrNotInput, r.owner, namespace, typ)
}

func (r *Runtime) checkWrite(typ string) error {
	if slices.Contains(r.outputs, Output{typ}) {
		return nil
	}
	return fmt.Errorf("%w: %s writes %s; declare it in Outputs", ErrNotOutput, r.owner, typ)
}

// Spec returns the spec of one input or output resource as *T; nil, without an error,
// when the resource does not exist (yet). A spec of another type is an error.
func Spec[T any](r *Runtime, namespace, typ, id string) (*T, error) {
	res, err := r.Get(namespace, typ, id)
	if errors.Is(err, resources.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	spec, ok := res.Spec.(*T)
	if !ok {
		return nil, fmt.Errorf("%s holds %T, not %T", res.Metadata, res.Spec, spec)
	}
	return spec, nil
}
