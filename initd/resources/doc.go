// Package resources is machined's state: a set of typed resources (namespace, type, id,
// version, spec) in an in-memory Store that readers can list and watch. Controllers
// (package controller) turn input resources into output resources; the API serves
// get, list and watch on them (DESIGN.md "PID 1").
//
// This is the room for the store and for the resource type definitions (types.go,
// specs.go). It must not touch the machine: no I/O, no syscalls, no imports of other
// initd packages. It imports config/ only for the type of the config resource, which
// holds the whole machine config (secrets included: machineapi redacts what it serves).
// Whoever knows how to read a link or a certificate writes a resource here;
// this package only keeps, versions, copies and announces them.
//
// # Resources
//
// A Resource is Metadata plus a Spec, a plain Go value that marshals to JSON. The Store
// keeps its own copy of every spec and hands out copies (a Cloner's DeepCopy, else a JSON
// round trip into a fresh value of the same type), so no reader can change what another
// reader sees. A spec must therefore carry its data in exported, JSON-encoded fields.
//
// Every change bumps the resource's version. Update is optimistic: it names the version
// it read and fails with ErrConflict if someone wrote in between; Modify retries that
// read-change-write loop for the caller. A write whose spec encodes to the same JSON as
// the stored one is no change: the version stays and watchers hear nothing, so that
// controllers that rewrite the same output do not wake each other forever.
//
// # Ownership
//
// Every write names an owner. The owner that creates a resource owns it; another owner's
// update or delete fails with ErrOwner. Claim reserves a whole type for one owner (the
// controller that declares it as output), so nobody else may even create it.
//
// # Watch
//
// Watch sends the current resources as Created events, then one Bootstrapped event,
// then every change as it happens. A watcher never slows a writer: events queue per
// watcher up to a bound, and a watcher that falls further behind gets one Errored event
// carrying ErrWatchOverflow and its channel closes; it should list again and re-watch.
package resources
