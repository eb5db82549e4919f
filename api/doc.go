// Package api is the room of Kiln's node API: the protobuf definitions (machine/, security/)
// and their generated Go code, apid (the mutual-TLS gateway with RBAC, apid/ and rbac/) and
// trustd (the node PKI, trustd/).
//
// This package itself holds only the check that the generated code matches the .proto
// files (generate_test.go); generate.sh is the one command that generates it. Nothing in
// api/ touches machine state: machined owns it, apid forwards to machined.
package api
