package main

import (
	"slices"
	"testing"

	"github.com/containerd/plugin"
	"github.com/containerd/plugin/registry"
)

// containerdPlugins is containerd's list, by URI, in initialisation order: the imports of
// main.go minus the shim's. A plugin added by an import (or by a containerd update) shows
// up here and must be looked at.
var containerdPlugins = []string{
	"io.containerd.content.v1.content",
	"io.containerd.warning.v1.deprecations",
	"io.containerd.event.v1.exchange",
	"io.containerd.snapshotter.v1.overlayfs",
	"io.containerd.metadata.v1.bolt",
	"io.containerd.gc.v1.scheduler",
	"io.containerd.service.v1.containers-service",
	"io.containerd.service.v1.content-service",
	"io.containerd.mount-manager.v1.bolt",
	"io.containerd.differ.v1.walking",
	"io.containerd.service.v1.diff-service",
	"io.containerd.service.v1.images-service",
	"io.containerd.service.v1.introspection-service",
	"io.containerd.service.v1.namespaces-service",
	"io.containerd.service.v1.snapshots-service",
	"io.containerd.shim.v1.manager",
	"io.containerd.runtime.v2.task",
	"io.containerd.service.v1.tasks-service",
	"io.containerd.grpc.v1.containers",
	"io.containerd.grpc.v1.content",
	"io.containerd.grpc.v1.diff",
	"io.containerd.grpc.v1.events",
	"io.containerd.grpc.v1.images",
	"io.containerd.grpc.v1.introspection",
	"io.containerd.lease.v1.manager",
	"io.containerd.grpc.v1.leases",
	"io.containerd.grpc.v1.namespaces",
	"io.containerd.grpc.v1.snapshots",
	"io.containerd.grpc.v1.tasks",
	"io.containerd.grpc.v1.version",
	"io.containerd.grpc.v1.healthcheck",
	"io.containerd.server.v1.ttrpc",
	"io.containerd.metrics.v1.grpc-prometheus",
	"io.containerd.metrics.v1.grpc-otel",
	"io.containerd.server.v1.grpc",
	"io.containerd.server.v1.grpc-tcp",
}

// TestSelectPlugins checks that each program keeps exactly its own registrations: the
// shim's runc task service never loads in containerd (whose ttrpc server would serve it),
// and containerd's plugins never load in the shim.
func TestSelectPlugins(t *testing.T) {
	all := registry.Graph(nil)
	t.Cleanup(func() { restore(all) })
	for _, tc := range []struct {
		shim bool
		want []string
	}{
		{false, containerdPlugins},
		{true, []string{"io.containerd.ttrpc.v1.task"}},
	} {
		restore(all)
		selectPlugins(tc.shim)
		var got []string
		for _, r := range registry.Graph(nil) {
			got = append(got, r.URI())
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("selectPlugins(shim=%t) keeps\n%q\nwant\n%q", tc.shim, got, tc.want)
		}
	}
}

func restore(all []plugin.Registration) {
	registry.Reset()
	for _, r := range all {
		registry.Register(&r)
	}
}
