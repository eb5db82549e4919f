// Command containerd is the node's container runtime daemon: containerd v2 with Kiln's own
// plugin list instead of upstream's cmd/containerd/builtins.
//
// The list keeps what a node uses: the local content store, the bolt metadata store, the
// overlayfs snapshotter and the walking differ/applier for its layers, the runtime v2 task
// service that starts containerd-shim-runc-v2, gc, leases, namespaces, events, the gRPC and
// ttrpc servers, and the services a client needs (containers, content, diff, images, leases,
// namespaces, snapshots, tasks, version, events, introspection, health). It leaves out the
// other snapshotters (btrfs, zfs, devmapper, native, blockfile, erofs), the debug and
// metrics listeners, tracing, the restart monitor and the transfer, sandbox and streaming
// gRPC services.
//
// CRI (cri.go) is compiled in for Kubernetes, which will run its own instance; the system
// instance disables it in its config. The build tag no_cri leaves it out. Measured with
// v2.4.2, go1.26.8, -s -w: 37.2 MB with CRI, 22.9 MB without; zstd -19: 10.7 MB and 6.8 MB.
// CRI and what it pulls in (the sandbox controller, NRI, transfer, CNI, streaming) cost
// 3.85 MB compressed, under the 4 MB that would justify dropping it now and adding it with
// Kubernetes.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/containerd/containerd/v2/cmd/containerd/command"

	// Runtime: the v2 shim manager and task service, cgroup task metrics (the tasks service
	// requires a task monitor), and the runc options type that clients send.
	_ "github.com/containerd/containerd/api/types/runc/options"
	_ "github.com/containerd/containerd/v2/core/metrics/cgroups"
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

func main() {
	if err := command.App().Run(context.Background(), os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "containerd:", err)
		os.Exit(1)
	}
}
