// Package machineapi is machined's side of the MachineService API: the gRPC server on the
// unix socket that apid forwards every authorised call to. apid has already checked the
// caller's certificate and role (api/rbac); this package only answers, from machined's
// live state: the supervisor, the log rings, the event history, the resource store, the
// TPM, and the callbacks machined gives it for changes (apply a config, power).
//
// The room: it translates between protobuf and machined's types and maps errors to gRPC
// status codes (the only place on the node that does). It never changes machine state
// itself; every change goes through a callback machined owns, or, for Upgrade and
// Rollback, through package upgrade on the ESP that machined mounts for the call
// (Upgrades.OpenESP): this package receives the image, removes it on every path, and
// maps upgrade's refusals to status codes.
package machineapi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"

	"github.com/sirupsen/logrus"
	"google.golang.org/grpc"

	"github.com/kiln-os/kiln/api/machine"
	"github.com/kiln-os/kiln/initd/configstate"
	"github.com/kiln-os/kiln/initd/diag"
	"github.com/kiln-os/kiln/initd/eventsink"
	"github.com/kiln-os/kiln/initd/logbuf"
	"github.com/kiln-os/kiln/initd/resources/controller"
	"github.com/kiln-os/kiln/initd/supervisor"
	"github.com/kiln-os/kiln/internal/streambudget"
	"github.com/kiln-os/kiln/internal/version"
)

// Socket is where machined serves the API for apid.
const Socket = "/run/kiln/machined.sock"

// Services is the part of the supervisor the API uses.
type Services interface {
	Snapshot() []supervisor.Status
	Restart(name string) error
	Hold(name, why string) error
	Release(name string) error
}

// Power is what Reboot, Shutdown and Reset ask machined to do.
type Power struct {
	Reboot        bool
	WipeState     bool
	WipeEphemeral bool
	Reason        string
}

// Server answers MachineService calls. Fields left nil make their calls fail with
// Unavailable ("not available yet in this boot"), except where noted.
type Server struct {
	machine.UnimplementedMachineServiceServer

	Log       logrus.FieldLogger
	EventSink *eventsink.Sink
	LogSet    *logbuf.Set
	// Services returns the running supervisor, nil before StartServices.
	Services func() Services
	// Maintenance reports whether the node waits for its first config.
	Maintenance func() bool
	// Apply validates a machine config and, unless a dry run, persists and applies it.
	Apply func(ctx context.Context, req configstate.Request) (configstate.Result, error)
	// Power requests a reboot, power off or reset; it returns once the request is queued.
	Power func(Power) error
	// Resources answers ResourceGet/List/Watch.
	Resources ResourceReader
	// Kmsg is the kernel log device (kmsg.Device).
	Kmsg string
	// TPM reads PCRs, quotes and the firmware event log.
	TPM PCRReader
	// Controllers lists the controllers with their inputs and outputs.
	Controllers func() []controller.Info
	// Upgrades serves Upgrade and Rollback.
	Upgrades *Upgrades
	// Containers serves ImageList and ImageImport; nil before StartServices.
	Containers *Containers
	// Cluster serves Bootstrap, Kubeconfig, EtcdMembers and EtcdSnapshot.
	Cluster Cluster
	// Diag is where Processes, Memory, Mounts, Disks, Netstat, ListFiles and ReadFile
	// read; nil reads the running node (diag.Default).
	Diag *diag.Roots

	redact  textRedactor
	streams *streambudget.Budget // set by Serve: MaxStreamsPerCaller, MaxStreams
	// redactText hides the config's secrets in text the API sends (set by Serve).
	redactText func(string) string
}

// Listen removes a stale socket and listens on path, readable only by uid/gid (apid's).
func Listen(path string, uid, gid int) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	if err := os.Chown(path, uid, gid); err != nil {
		l.Close()
		return nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// Serve answers calls on l until ctx ends.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	s.streams = &streambudget.Budget{Server: "machined", PerCaller: MaxStreamsPerCaller, Total: MaxStreams}
	s.redactText = func(text string) string { return s.redact.text(s.Resources, text) }
	g := grpc.NewServer(grpc.MaxRecvMsgSize(4<<20), grpc.MaxSendMsgSize(16<<20),
		grpc.ChainStreamInterceptor(s.budgetStreams))
	machine.RegisterMachineServiceServer(g, s)
	stop := context.AfterFunc(ctx, g.Stop)
	defer stop()
	if err := g.Serve(l); err != nil && ctx.Err() == nil {
		return fmt.Errorf("machine API on %s: %w", l.Addr(), err)
	}
	return nil
}

// Version reports the image and kernel versions.
func (s *Server) Version(ctx context.Context, _ *machine.VersionRequest) (*machine.VersionResponse, error) {
	return &machine.VersionResponse{
		Version:       version.Version,
		GoVersion:     runtime.Version(),
		KernelRelease: KernelRelease(),
		Maintenance:   s.Maintenance != nil && s.Maintenance(),
	}, nil
}
