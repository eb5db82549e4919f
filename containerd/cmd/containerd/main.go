// Command containerd is the node's container runtime: containerd v2 with Kiln's own plugin
// list, and containerd's runc v2 shim, in one multi-call binary. The root holds it as
// /usr/bin/containerd and, hard-linked to the same inode, /usr/bin/containerd-shim-runc-v2.
// The two programs share the Go runtime, grpc, ttrpc, protobuf and containerd's packages;
// one binary saves about 4.3 MB (zstd -19) over two.
//
// # Dispatch
//
// The name the binary was started by (argv[0]'s base name) picks the program:
// containerd-shim-runc-v2 runs the shim, any other name runs containerd. Both of the
// shim's invocations carry that name. containerd (core/runtime/v2) resolves the runtime
// io.containerd.runc.v2 to containerd-shim-runc-v2 on PATH and execs that absolute path
// with "-namespace … -address … -publish-binary … -id … start" (or "delete"). The shim's
// start action then re-execs itself through os.Executable(), which is /proc/self/exe: for
// a hard link the kernel keeps the name the process was started by, so the daemon shim is
// again containerd-shim-runc-v2 (a symlink would resolve to /usr/bin/containerd and the
// re-exec would start containerd with the shim's flags). Dispatching on the arguments
// instead would tie it to the legacy flag protocol that upstream marks for removal (in
// favour of its bootstrap protocol), and -v would be ambiguous: both programs answer it.
//
// # Plugins
//
// Both programs register their plugins at import and each loads every registered plugin:
// containerd's ttrpc server would serve the shim's runc task service, and the shim would
// initialise containerd's metadata store. main therefore keeps, before either starts, only
// its program's registrations (selectPlugins); main_test.go pins both lists.
//
// containerd's list keeps what a node uses: the local content store, the bolt metadata
// store, the overlayfs snapshotter and the walking differ/applier for its layers, the
// runtime v2 task service that starts the shim, gc, leases, namespaces, events, the gRPC
// and ttrpc servers, and the services a client needs (containers, content, diff, images,
// leases, namespaces, snapshots, tasks, version, events, introspection, health). It leaves
// out the other snapshotters (btrfs, zfs, devmapper, native, blockfile, erofs), the debug
// and metrics listeners, tracing, the restart monitor and the transfer, sandbox and
// streaming gRPC services. It also leaves out the cgroups task monitor
// (core/metrics/cgroups): on cgroup v2 it only feeds Prometheus collectors, which only the
// metrics listener would serve; without it the tasks service uses a no-op monitor, and task
// metrics (the Tasks.Metrics RPC) still come from the shim. It saved 18 KB (zstd -19).
//
// The pipeline builds it with the tag grpcnotrace, which leaves out grpc's
// golang.org/x/net/trace: containerd never sets grpc.EnableTracing, and the /debug/requests
// page it would feed belongs to the debug listener, which is not compiled in. That saved
// 393 KB raw, 127 KB zstd -19.
//
// # No CRI
//
// CRI is not compiled in: its imports are gone, not behind a build tag, so that there is one
// configuration to build and test. The node's containerd is the system instance: it runs the
// workloads of the machine config and never serves CRI. Kubernetes runs its own CRI
// instance from the Kubernetes payload, which lives outside the signed UKI with its digest
// pinned inside it, as Talos runs a system and a CRI containerd. That instance is
// upstream's own main, CRI included, built from this module too (its go.mod's tool line,
// pipeline/kubernetes.go), so both run the same pinned containerd. CRI and what it
// pulls in (the pod sandbox controller, NRI, transfer, CNI, streaming) measured 3.85 MB
// (zstd -19) of the 10.68 MB containerd.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2/manager"
	"github.com/containerd/containerd/v2/cmd/containerd/command"
	"github.com/containerd/containerd/v2/pkg/shim"
	"github.com/containerd/plugin/registry"

	// The shim's runc task service (its one registration: shimPlugins).
	_ "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2/task/plugin"

	// Runtime: the v2 shim manager and task service, and the runc options type that clients
	// send.
	_ "github.com/containerd/containerd/api/types/runc/options"
	_ "github.com/containerd/containerd/v2/core/runtime/v2"

	// Storage: content, metadata, overlayfs, the differ/applier and the mount manager it
	// requires.
	_ "github.com/containerd/containerd/v2/plugins/content/local/plugin"
	_ "github.com/containerd/containerd/v2/plugins/diff/walking/plugin"
	_ "github.com/containerd/containerd/v2/plugins/metadata"
	_ "github.com/containerd/containerd/v2/plugins/mount"
	_ "github.com/containerd/containerd/v2/plugins/snapshots/overlay/plugin"

	// Housekeeping.
	_ "github.com/containerd/containerd/v2/plugins/events"
	_ "github.com/containerd/containerd/v2/plugins/gc"
	_ "github.com/containerd/containerd/v2/plugins/leases"

	// The API: servers and services.
	_ "github.com/containerd/containerd/v2/plugins/server/grpc"
	_ "github.com/containerd/containerd/v2/plugins/server/ttrpc"
	_ "github.com/containerd/containerd/v2/plugins/services/containers"
	_ "github.com/containerd/containerd/v2/plugins/services/content"
	_ "github.com/containerd/containerd/v2/plugins/services/diff"
	_ "github.com/containerd/containerd/v2/plugins/services/events"
	_ "github.com/containerd/containerd/v2/plugins/services/healthcheck"
	_ "github.com/containerd/containerd/v2/plugins/services/images"
	_ "github.com/containerd/containerd/v2/plugins/services/introspection"
	_ "github.com/containerd/containerd/v2/plugins/services/leases"
	_ "github.com/containerd/containerd/v2/plugins/services/namespaces"
	_ "github.com/containerd/containerd/v2/plugins/services/snapshots"
	_ "github.com/containerd/containerd/v2/plugins/services/tasks"
	_ "github.com/containerd/containerd/v2/plugins/services/version"
	_ "github.com/containerd/containerd/v2/plugins/services/warning"
)

// ShimName is the name that runs the shim: containerd's binary name for the runtime
// io.containerd.runc.v2 (pkg/shim.BinaryName).
const ShimName = "containerd-shim-runc-v2"

// shimRuntime is the runtime the shim serves.
const shimRuntime = "io.containerd.runc.v2"

// shimPlugins are the registrations, by URI, that belong to the shim; every other one
// belongs to containerd. The shim registers its shutdown and publisher plugins itself when
// it runs (pkg/shim.run), after selectPlugins.
var shimPlugins = map[string]bool{
	"io.containerd.ttrpc.v1.task": true,
}

func main() {
	isShim := filepath.Base(os.Args[0]) == ShimName
	selectPlugins(isShim)
	if isShim {
		shim.RunShim(context.Background(), manager.NewShimManager(shimRuntime))
		return
	}
	if err := command.App().Run(context.Background(), os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "containerd:", err)
		os.Exit(1)
	}
}

// selectPlugins leaves in the global registry only the shim's registrations (asShim) or
// only containerd's.
func selectPlugins(asShim bool) {
	all := registry.Graph(nil)
	registry.Reset()
	for _, r := range all {
		if shimPlugins[r.URI()] == asShim {
			registry.Register(&r)
		}
	}
}
