package apid

import (
	"context"
	"errors"
	"io"

	"google.golang.org/grpc"

	"github.com/kiln-os/kiln/api/machine"
)

// forwarder implements MachineService by calling machined with the same request. Errors
// from machined are gRPC statuses already and reach the client unchanged. A stream's
// backend call lives in the client stream's context, so a client that goes away cancels
// machined's side too.
type forwarder struct {
	machine.UnimplementedMachineServiceServer
	backend machine.MachineServiceClient
}

func (f *forwarder) Version(ctx context.Context, req *machine.VersionRequest) (*machine.VersionResponse, error) {
	return f.backend.Version(outgoing(ctx), req)
}

func (f *forwarder) ServiceList(ctx context.Context, req *machine.ServiceListRequest) (*machine.ServiceListResponse, error) {
	return f.backend.ServiceList(outgoing(ctx), req)
}

func (f *forwarder) ServiceRestart(ctx context.Context, req *machine.ServiceRestartRequest) (*machine.ServiceRestartResponse, error) {
	return f.backend.ServiceRestart(outgoing(ctx), req)
}

func (f *forwarder) ResourceGet(ctx context.Context, req *machine.ResourceGetRequest) (*machine.Resource, error) {
	return f.backend.ResourceGet(outgoing(ctx), req)
}

func (f *forwarder) ResourceList(ctx context.Context, req *machine.ResourceListRequest) (*machine.ResourceListResponse, error) {
	return f.backend.ResourceList(outgoing(ctx), req)
}

func (f *forwarder) ApplyConfiguration(ctx context.Context, req *machine.ApplyConfigurationRequest) (*machine.ApplyConfigurationResponse, error) {
	return f.backend.ApplyConfiguration(outgoing(ctx), req)
}

func (f *forwarder) Reboot(ctx context.Context, req *machine.RebootRequest) (*machine.RebootResponse, error) {
	return f.backend.Reboot(outgoing(ctx), req)
}

func (f *forwarder) Shutdown(ctx context.Context, req *machine.ShutdownRequest) (*machine.ShutdownResponse, error) {
	return f.backend.Shutdown(outgoing(ctx), req)
}

func (f *forwarder) Reset(ctx context.Context, req *machine.ResetRequest) (*machine.ResetResponse, error) {
	return f.backend.Reset(outgoing(ctx), req)
}

func (f *forwarder) PCRRead(ctx context.Context, req *machine.PCRReadRequest) (*machine.PCRReadResponse, error) {
	return f.backend.PCRRead(outgoing(ctx), req)
}

func (f *forwarder) Logs(req *machine.LogsRequest, dst machine.MachineService_LogsServer) error {
	src, err := f.backend.Logs(outgoing(dst.Context()), req)
	return pipe(src, dst, err)
}

func (f *forwarder) Dmesg(req *machine.DmesgRequest, dst machine.MachineService_DmesgServer) error {
	src, err := f.backend.Dmesg(outgoing(dst.Context()), req)
	return pipe(src, dst, err)
}

func (f *forwarder) Events(req *machine.EventsRequest, dst machine.MachineService_EventsServer) error {
	src, err := f.backend.Events(outgoing(dst.Context()), req)
	return pipe(src, dst, err)
}

func (f *forwarder) ResourceWatch(req *machine.ResourceWatchRequest, dst machine.MachineService_ResourceWatchServer) error {
	src, err := f.backend.ResourceWatch(outgoing(dst.Context()), req)
	return pipe(src, dst, err)
}

// pipe copies src to dst until src ends; openErr is the error from opening src.
func pipe[T any](src grpc.ServerStreamingClient[T], dst grpc.ServerStreamingServer[T], openErr error) error {
	if openErr != nil {
		return openErr
	}
	for {
		msg, err := src.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := dst.Send(msg); err != nil {
			return err
		}
	}
}
