// Package controller runs machined's controllers: small loops that read input resources
// and write output resources in a resources.Store, so that state derived from other state
// (addresses from links and config, the API certificate from the node's names, the
// machine's stage from its services) follows every change on its own.
//
// This is the room for the reconcile loop and its rules. It must not touch the machine:
// no I/O and no syscalls here; a controller that needs the machine (netlink, files, the
// TPM) is written elsewhere and only registered here. It must not import other initd
// packages or config/.
//
// # Rules
//
// A Controller declares its Inputs (namespace and type it reads) and Outputs (types it
// writes). Registration claims every output type in the store for the controller's
// name, so one type has one writer, and it fails if two controllers declare the same
// output type. During Reconcile the Runtime lets the controller read only its inputs and
// its own outputs and write only its outputs; anything else is ErrNotInput or
// ErrNotOutput, so a missing declaration shows up the first time the code runs.
//
// # Scheduling
//
// Run reconciles every controller once at start, then again whenever a resource of one
// of its inputs changes. Changes that arrive while Reconcile runs are coalesced into one
// more run: Reconcile must read the current state, not react to single events. After an
// error the controller is retried after a backoff that doubles from BackoffBase to
// BackoffMax (1 s to 30 s), whether or not its inputs change, and the error is logged
// with the controller's name; a success resets the backoff. A panic in Reconcile counts
// as an error rather than taking PID 1 down.
package controller
