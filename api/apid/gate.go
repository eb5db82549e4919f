package apid

import (
	"context"

	"github.com/sirupsen/logrus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kiln-os/kiln/api/machine"
	"github.com/kiln-os/kiln/api/rbac"
	"github.com/kiln-os/kiln/internal/streambudget"
)

// maintenanceMethods are the only calls served in maintenance mode: enough to see which
// node this is and to give it a config.
var maintenanceMethods = map[string]bool{
	machine.MachineService_Version_FullMethodName:            true,
	machine.MachineService_ApplyConfiguration_FullMethodName: true,
}

const maintenanceMessage = "node is in maintenance mode: apply a config with kilnctl apply-config --fingerprint SHA256 (the fingerprint on the node's console)"

// gate decides, before any handler runs, whether a call may proceed: maintenance mode,
// then RBAC, then the caller's rate limit, then (for streams) the stream budget.
type gate struct {
	maintenance  bool
	limiter      *limiter
	applyLimiter *limiter // maintenance mode only (applyBudget)
	log          logrus.FieldLogger
	// streamMethods are the methods the stream budget counts (streamingMethods); set
	// once, before the server serves.
	streamMethods map[string]bool
	streams       *streambudget.Budget
}

// admit returns the context the handler runs with (carrying the caller), or the status
// error the client gets.
func (g *gate) admit(ctx context.Context, method string) (context.Context, error) {
	c := callerFrom(ctx)
	if g.maintenance {
		if !maintenanceMethods[method] {
			return nil, status.Error(codes.Unavailable, maintenanceMessage)
		}
		if !g.allowApply(method, c) {
			return nil, status.Error(codes.ResourceExhausted, maintenanceApplyMessage)
		}
	} else if err := rbac.Authorize(method, c.roles); err != nil {
		g.log.WithFields(logrus.Fields{
			"method": method, "caller_cn": c.cn, "caller_serial": c.serial, "caller_roles": c.roleNames(),
		}).Warn("apid: permission denied")
		return nil, status.Error(codes.PermissionDenied, err.Error())
	}
	if !g.limiter.allow(c.bucket) {
		return nil, status.Error(codes.ResourceExhausted, "too many calls from this client: slow down and retry")
	}
	return withCaller(ctx, c), nil
}

func (g *gate) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	ctx, err := g.admit(ctx, info.FullMethod)
	if err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

func (g *gate) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	ctx, err := g.admit(ss.Context(), info.FullMethod)
	if err != nil {
		return err
	}
	if g.streamMethods[info.FullMethod] {
		who := ctx.Value(callerKey{}).(caller).streamKey()
		if err := g.streams.Take(who); err != nil {
			return err
		}
		defer g.streams.Give(who)
	}
	return handler(srv, &admittedStream{ServerStream: ss, ctx: ctx})
}

// admittedStream carries the caller in its context to the handler.
type admittedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *admittedStream) Context() context.Context { return s.ctx }
