// Package containers runs the machine config's workloads (machine.containers) on the
// node's containerd: it talks to containerd's gRPC API over its unix socket (Socket),
// imports OCI image archives into containerd's content store, unpacks them into overlayfs
// snapshots, pulls images from registries (OCI distribution spec v1.1, over HTTPS with
// the node's CA bundle; anonymous pulls only, as the machine config carries no registry
// credentials yet), builds each container's OCI runtime spec, and a controller keeps
// the running containers equal to the config's list, pulling an image it lacks.
//
// It is node-side. It uses containerd's API types (github.com/containerd/containerd/api),
// not containerd's client library, whose dependency tree would more than double
// machined; containerd itself is built from its own module (containerd/ at the top of
// the repository) and runs as a supervised service.
package containers
