// Package config is the Kiln machine config, version v1alpha1: the Go types, strict
// decoding (every unknown field, wrong type and duplicate key is reported with its line and
// field path), semantic validation, stable encoding, atomic persistence, RFC 6902 JSON
// patches and strategic merge patches, and the generation of cluster secrets (the OS API CA,
// the Kubernetes CA, the join token) and of the controlplane and worker configs built from
// them.
//
// The format is the subset of Talos's v1alpha1 machine config that Kiln implements: shared
// concepts carry Talos's field names and shapes (machine.network.interfaces[].interface,
// cluster.clusterName, machine.acceptedCAs[].crt, ...), and a Talos field Kiln does not
// implement is refused as "not supported by Kiln" rather than as unknown (talos.go).
//
// The room: the config is shared by the node and its clients. kilnctl generates and
// patches configs, machined loads and persists them, apid and trustd read their PKI from
// them. So this package is a leaf: it imports the standard library, yaml.v3 and
// internal/atomicfile only, and must never import initd/, the api/ servers or the builder
// packages (kernel, rootfs, uki, bootloader, pipeline). It holds no clock (time is passed
// in) and no logger.
//
// # Flow
//
// Bytes from a user or the network go Decode, then Validate; Load does both. Patches
// (ApplyJSONPatch, ApplyStrategicMerge, and ApplyPatch, which tells the two apart by
// shape) work on the YAML document and return YAML bytes:
// they do not decode or validate their result, so callers must run Decode and Validate on
// it before using or saving it. Save refuses a config that fails Validate, so a rejected
// config never reaches disk.
//
// # Changes, reboots and secrets
//
// Every field carries a kiln struct tag that says how a change to it takes effect on a
// running node: kiln:"live" (the node's controllers apply it: hostname, static addresses,
// routes, resolvers, time servers, sysctls) or kiln:"reboot" (everything else, e.g.
// machine.type, machine.install, the PKI), with ",secret" added for a value that must
// never leave the node (the join token, the CA keys). On a field holding a struct, reboot
// and secret hold for everything beneath it. A test fails on any field without a valid
// tag. Diff compares two configs field by field and says which changes need a reboot
// (RequireLive turns them into a NeedsRebootError); Redact is the one implementation of
// what a config shows outside the node. Both read the tags, so a new field is diffed and
// redacted without a hand-kept list. Unredact is Redact's inverse for a client that holds
// the cluster's secrets file: it fills the redacted fields of a config read through the
// API back in, so that the config can be patched or edited and applied whole.
//
// Errors: every rejection by Decode and Validate matches ErrInvalid (errors.Is); a change
// that needs a reboot where none is allowed is a *NeedsRebootError, matching
// ErrNeedsReboot.
//
// The JSON Schema in schema.json is generated from the types in this package (descriptions
// from the field doc comments, constraints from the enum, pattern, min, max, default and
// required struct tags); run go generate ./config after changing a type.
package config

//go:generate go run ./internal/schemagen -src . -o schema.json
