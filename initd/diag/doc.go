// Package diag reads what an operator needs to see on a node without a shell: processes,
// memory, mounts, disks and sockets from /proc and /sys, and files under a confinement
// that keeps STATE and /run/kiln out of reach.
//
// The room: read-only parsers over an injectable root (Roots), so tests run against
// fixture trees in testdata. It returns api/machine messages and plain errors (the
// sentinels below); machineapi maps them to status codes. It never writes, never follows
// a path into a forbidden directory, and never reads more than it was asked to bound.
package diag
