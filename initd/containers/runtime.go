package containers

import (
	"context"
	"errors"
	"io"
	"time"
)

// Paths and names on a node.
const (
	// Socket is containerd's gRPC socket: root's only (owner and group root, no access
	// for others), so no service user (apid, trustd) reaches it.
	Socket = "/run/containerd/containerd.sock"
	// Namespace is the containerd namespace Kiln's images and containers live in.
	Namespace = "kiln"
	// Snapshotter is the snapshotter images are unpacked into.
	Snapshotter = "overlayfs"
	// CgroupParent is where each container's cgroup is made (kiln/containers/<name>), below
	// the cgroup2 root, beside machined's services (initd/cgroup).
	CgroupParent = "/kiln/containers"
	// MaxImportBytes bounds one imported archive.
	MaxImportBytes = 2 << 30
)

var (
	// ErrImageNotFound is returned for an image reference containerd does not hold.
	ErrImageNotFound = errors.New("image not found")
	// ErrInvalidArchive wraps every refusal of an imported archive that is the archive's
	// fault (not an OCI layout, a digest mismatch, another platform, too large); the API
	// answers InvalidArgument for it.
	ErrInvalidArchive = errors.New("invalid image archive")
)

// Image is one image in containerd's store.
type Image struct {
	Name     string // the reference, as imported (kiln.test/hello:1)
	Digest   string // the manifest's digest (sha256:...)
	Size     int64  // manifest, config and layers, compressed
	Platform string // os/architecture (linux/amd64)
	Created  time.Time
}

// Spec is what one container runs, resolved from its config entry.
type Spec struct {
	ID           string   // the config entry's name; also the container, snapshot and cgroup name
	Image        string   // image reference
	Args         []string // replace the image's CMD; nil keeps it
	Env          []string // NAME=value, added to (and overriding) the image's, sorted
	MemoryBytes  int64    // 0: no limit
	CPUMillis    int64    // 0: no limit
	Pids         int64    // 0: no limit
	WritableRoot bool
	Capabilities []string // CAP_ names kept; empty: none
}

// Exit is how a task ended.
type Exit struct {
	Code uint32
	At   time.Time
}

// Task is a started container's process.
type Task interface {
	PID() uint32
	// Wait blocks until the task exits (or ctx ends).
	Wait(ctx context.Context) (Exit, error)
}

// Runtime is what the controller and the API need from containerd.
type Runtime interface {
	// Version answers when containerd's API does (the service's health check).
	Version(ctx context.Context) (string, error)
	// Import reads an OCI image layout archive (tar) of at most limit bytes, checks it
	// whole (every blob's digest and size, platform linux/amd64) before it writes
	// anything, then stores and unpacks its images. A rejected archive changes nothing.
	Import(ctx context.Context, archive io.Reader, limit int64) ([]Image, error)
	// Pull fetches ref's linux/amd64 image from its registry and stores it as Import
	// does, under the name ref; a failed pull changes no image record.
	Pull(ctx context.Context, ref string) (Image, error)
	Images(ctx context.Context) ([]Image, error)
	// Image resolves a reference; ErrImageNotFound when absent.
	Image(ctx context.Context, ref string) (Image, error)
	// Start creates and starts the container spec.ID; its stdout and stderr go to out
	// until it exits. A leftover container of that ID is removed first.
	Start(ctx context.Context, spec Spec, out io.Writer) (Task, error)
	// Remove stops the container (SIGTERM, then SIGKILL after grace) and deletes its
	// task, container record and snapshot; nil when there is no such container.
	Remove(ctx context.Context, id string, grace time.Duration) error
	// Containers lists the IDs of the containers containerd holds in Namespace.
	Containers(ctx context.Context) ([]string, error)
}

// LogSource is the name of a container's log ring in machined's log set: apart from the
// services' rings, so that a container named like a service never writes into its log.
// The Logs RPC finds a container by its bare name too.
func LogSource(name string) string { return "container/" + name }
