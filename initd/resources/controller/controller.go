package controller

import "context"

// Controller turns input resources into output resources.
type Controller interface {
	// Name identifies the controller in logs and owns its outputs in the store.
	Name() string
	Inputs() []Input
	Outputs() []Output
	// Reconcile brings the outputs in line with the current inputs. It may run any
	// number of times and must read the state it needs afresh each time.
	Reconcile(ctx context.Context, r *Runtime) error
}

// Input is a namespace and type whose changes trigger a reconcile.
type Input struct {
	Namespace, Type string
}

// Output is a type the controller alone writes, in any namespace.
type Output struct {
	Type string
}
