package machineapi

import (
	"context"
	"errors"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/kiln-os/kiln/api/machine"
	"github.com/kiln-os/kiln/initd/supervisor"
)

var errNotYet = status.Error(codes.Unavailable, "not available yet in this boot: the node is still starting")

// ServiceList reports every supervised service.
func (s *Server) ServiceList(ctx context.Context, _ *machine.ServiceListRequest) (*machine.ServiceListResponse, error) {
	resp := &machine.ServiceListResponse{}
	if s.Services == nil || s.Services() == nil {
		return resp, nil // nothing runs yet: an empty list is the truth
	}
	for _, st := range s.Services().Snapshot() {
		resp.Services = append(resp.Services, &machine.ServiceInfo{
			Name: st.Name, State: st.State, Health: health(st), Restarts: uint32(st.Restarts),
			Pid: int32(st.Pid), Since: timestamppb.New(st.Since),
		})
	}
	return resp, nil
}

func health(st supervisor.Status) string {
	switch st.State {
	case supervisor.StateHealthy:
		return "healthy"
	case supervisor.StateRunning, supervisor.StateStarting:
		return "unknown"
	}
	return "unhealthy"
}

// ServiceRestart restarts one service.
func (s *Server) ServiceRestart(ctx context.Context, req *machine.ServiceRestartRequest) (*machine.ServiceRestartResponse, error) {
	if s.Services == nil || s.Services() == nil {
		return nil, errNotYet
	}
	err := s.Services().Restart(req.GetName())
	if errors.Is(err, supervisor.ErrUnknownService) {
		return nil, status.Errorf(codes.NotFound, "no service %q: kilnctl services lists them", req.GetName())
	}
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	s.Log.WithField("service", req.GetName()).WithField("caller", caller(ctx)).Info("restart requested")
	return &machine.ServiceRestartResponse{}, nil
}

// Reboot reboots the node after a clean shutdown.
func (s *Server) Reboot(ctx context.Context, _ *machine.RebootRequest) (*machine.RebootResponse, error) {
	return &machine.RebootResponse{}, s.power(ctx, Power{Reboot: true, Reason: "API Reboot"})
}

// Shutdown powers the node off after a clean shutdown.
func (s *Server) Shutdown(ctx context.Context, _ *machine.ShutdownRequest) (*machine.ShutdownResponse, error) {
	return &machine.ShutdownResponse{}, s.power(ctx, Power{Reason: "API Shutdown"})
}

// Reset wipes what the request names, then reboots or powers off.
func (s *Server) Reset(ctx context.Context, req *machine.ResetRequest) (*machine.ResetResponse, error) {
	if !req.GetWipeState() && !req.GetWipeEphemeral() {
		return nil, status.Error(codes.InvalidArgument, "reset wipes nothing: set wipe_state and/or wipe_ephemeral (kilnctl reset --wipe-state --wipe-ephemeral)")
	}
	p := Power{Reboot: req.GetReboot(), WipeState: req.GetWipeState(), WipeEphemeral: req.GetWipeEphemeral(), Reason: "API Reset"}
	return &machine.ResetResponse{}, s.power(ctx, p)
}

func (s *Server) power(ctx context.Context, p Power) error {
	if s.Power == nil {
		return errNotYet
	}
	s.Log.WithField("caller", caller(ctx)).WithField("reboot", p.Reboot).Warn(p.Reason)
	if err := s.Power(p); err != nil {
		return status.Error(codes.FailedPrecondition, err.Error())
	}
	return nil
}

// KernelRelease is the running kernel's release (uname -r).
func KernelRelease() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}
