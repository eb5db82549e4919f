package machineapi

import (
	"context"
	"errors"
	"io/fs"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kiln-os/kiln/api/machine"
	"github.com/kiln-os/kiln/initd/diag"
	"github.com/kiln-os/kiln/initd/supervisor"
)

// protectedServices may not be stopped through the API: stopping apid would cut off the
// very API that could start it again, and stopping watchdogd lets the hardware watchdog
// reboot the node.
var protectedServices = map[string]string{
	"apid":      "apid serves this API: once stopped, nothing could start it again; use service restart apid",
	"watchdogd": "watchdogd keeps the hardware watchdog fed: stopped, it reboots the node; use reboot",
}

// ServiceStop stops one service and keeps it stopped until ServiceStart.
func (s *Server) ServiceStop(ctx context.Context, req *machine.ServiceStopRequest) (*machine.ServiceStopResponse, error) {
	if why, ok := protectedServices[req.GetName()]; ok {
		return nil, status.Errorf(codes.FailedPrecondition, "service %s cannot be stopped: %s", req.GetName(), why)
	}
	if err := s.serviceCall(ctx, "stop", req.GetName()); err != nil {
		return nil, err
	}
	return &machine.ServiceStopResponse{}, nil
}

// ServiceStart lets a stopped service run again.
func (s *Server) ServiceStart(ctx context.Context, req *machine.ServiceStartRequest) (*machine.ServiceStartResponse, error) {
	if err := s.serviceCall(ctx, "start", req.GetName()); err != nil {
		return nil, err
	}
	return &machine.ServiceStartResponse{}, nil
}

func (s *Server) serviceCall(ctx context.Context, action, name string) error {
	if s.Services == nil || s.Services() == nil {
		return errNotYet
	}
	call := func(name string) error { return s.Services().Hold(name, "stopped by "+caller(ctx)) }
	if action == "start" {
		call = s.Services().Release
	}
	err := call(name)
	if errors.Is(err, supervisor.ErrUnknownService) {
		return status.Errorf(codes.NotFound, "no service %q: kilnctl services lists them", name)
	}
	if err != nil {
		return status.Error(codes.Internal, err.Error())
	}
	s.Log.WithField("service", name).WithField("caller", caller(ctx)).Info(action + " requested")
	return nil
}

func (s *Server) roots() diag.Roots {
	if s.Diag != nil {
		return *s.Diag
	}
	return diag.Default
}

// Processes lists the node's processes.
func (s *Server) Processes(context.Context, *machine.ProcessesRequest) (*machine.ProcessesResponse, error) {
	procs, err := s.roots().Processes()
	if err != nil {
		return nil, diagStatus(err)
	}
	return &machine.ProcessesResponse{Processes: procs}, nil
}

// Memory reports /proc/meminfo.
func (s *Server) Memory(context.Context, *machine.MemoryRequest) (*machine.MemoryResponse, error) {
	m, err := s.roots().Memory()
	if err != nil {
		return nil, diagStatus(err)
	}
	return m, nil
}

// Mounts lists machined's mounts.
func (s *Server) Mounts(context.Context, *machine.MountsRequest) (*machine.MountsResponse, error) {
	mounts, err := s.roots().Mounts()
	if err != nil {
		return nil, diagStatus(err)
	}
	return &machine.MountsResponse{Mounts: mounts}, nil
}

// Disks lists block devices, the boot disk marked.
func (s *Server) Disks(context.Context, *machine.DisksRequest) (*machine.DisksResponse, error) {
	disks, err := s.roots().Disks()
	if err != nil {
		return nil, diagStatus(err)
	}
	return &machine.DisksResponse{Disks: disks}, nil
}

// Netstat lists sockets with their processes.
func (s *Server) Netstat(context.Context, *machine.NetstatRequest) (*machine.NetstatResponse, error) {
	socks, err := s.roots().Netstat()
	if err != nil {
		return nil, diagStatus(err)
	}
	return &machine.NetstatResponse{Sockets: socks}, nil
}

// ListFiles lists one directory outside the forbidden ones.
func (s *Server) ListFiles(ctx context.Context, req *machine.ListFilesRequest) (*machine.ListFilesResponse, error) {
	files, err := s.roots().ListFiles(req.GetPath())
	if err != nil {
		return nil, diagStatus(err)
	}
	s.Log.WithField("path", req.GetPath()).WithField("caller", caller(ctx)).Info("ls")
	return &machine.ListFilesResponse{Path: req.GetPath(), Files: files}, nil
}

// ReadFile returns one file outside the forbidden directories, at most 1 MiB.
func (s *Server) ReadFile(ctx context.Context, req *machine.ReadFileRequest) (*machine.ReadFileResponse, error) {
	data, err := s.roots().ReadFile(req.GetPath())
	if err != nil {
		return nil, diagStatus(err)
	}
	s.Log.WithField("path", req.GetPath()).WithField("caller", caller(ctx)).Info("read")
	return &machine.ReadFileResponse{Data: data}, nil
}

func diagStatus(err error) error {
	code := codes.Internal
	switch {
	case errors.Is(err, diag.ErrForbidden):
		code = codes.PermissionDenied
	case errors.Is(err, diag.ErrTooLarge):
		code = codes.FailedPrecondition
	case errors.Is(err, diag.ErrBadPath), errors.Is(err, fs.ErrInvalid):
		code = codes.InvalidArgument
	case errors.Is(err, fs.ErrNotExist):
		code = codes.NotFound
	case errors.Is(err, fs.ErrPermission):
		code = codes.PermissionDenied
	}
	return status.Error(code, err.Error())
}
