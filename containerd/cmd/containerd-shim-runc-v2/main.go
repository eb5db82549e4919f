// Command containerd-shim-runc-v2 is containerd's runc v2 shim: one process per container
// (or pod) that drives runc and reports the task's state to containerd over ttrpc. It is
// upstream's cmd/containerd-shim-runc-v2 main, built from its importable packages without
// the tracing plugin.
package main

import (
	"context"

	"github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2/manager"
	_ "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2/task/plugin"
	"github.com/containerd/containerd/v2/pkg/shim"
)

func main() {
	shim.RunShim(context.Background(), manager.NewShimManager("io.containerd.runc.v2"))
}
