package client

import (
	"context"
	"fmt"
	"path"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kiln-os/kiln/api/rbac"
)

// RPCError is a failed call with what to do about it. It keeps the gRPC status, so
// status.Code and status.FromError still see the code.
type RPCError struct {
	// Method is the short method name, e.g. "Reboot".
	Method string
	Status *status.Status
	Advice string
}

func (e *RPCError) Error() string {
	return fmt.Sprintf("%s: %s", e.Method, e.Advice)
}

// GRPCStatus lets status.FromError and status.Code read the node's status.
func (e *RPCError) GRPCStatus() *status.Status { return e.Status }

// explain returns err itself when there is nothing to add, else an RPCError.
func explain(err error, fullMethod string, roles []rbac.Role, maintenance bool) error {
	st, ok := status.FromError(err)
	if !ok || err == nil {
		return err
	}
	advice := adviseStatus(st, fullMethod, roles, maintenance)
	if advice == "" {
		return err
	}
	return &RPCError{Method: path.Base(fullMethod), Status: st, Advice: advice}
}

func adviseStatus(st *status.Status, fullMethod string, roles []rbac.Role, maintenance bool) string {
	msg := st.Message()
	switch st.Code() {
	case codes.PermissionDenied:
		return deniedAdvice(msg, fullMethod, roles, maintenance)
	case codes.Unauthenticated:
		return fmt.Sprintf("the node did not accept the client certificate (%s): generate a new one with kilnctl gen cert", msg)
	case codes.Unavailable:
		if strings.Contains(strings.ToLower(msg), "maintenance") {
			return fmt.Sprintf("node is in maintenance mode (%s): apply a config with kilnctl apply-config --fingerprint SHA256 -f FILE, SHA256 being the fingerprint on the node's console", msg)
		}
		if isRemoteTLSAlert(st.Err()) {
			return fmt.Sprintf("the node refused the client certificate (%s): generate a new one with kilnctl gen cert", msg)
		}
		return fmt.Sprintf("%s: %s", msg, adviceUnreachable)
	case codes.Unimplemented:
		return fmt.Sprintf("the node does not serve %s (%s): compare kilnctl's version with the node's (kilnctl version)", path.Base(fullMethod), msg)
	}
	return ""
}

func deniedAdvice(msg, fullMethod string, roles []rbac.Role, maintenance bool) string {
	method := path.Base(fullMethod)
	if maintenance {
		return fmt.Sprintf("a node in maintenance mode serves only Version and ApplyConfiguration, not %s (%s)", method, msg)
	}
	have := "no role"
	if len(roles) > 0 {
		have = joinRoles(roles)
	}
	need, ok := rbac.Methods[fullMethod]
	if !ok {
		return fmt.Sprintf("your certificate's role (%s) may not call %s (%s)", have, method, msg)
	}
	if rbac.Authorize(fullMethod, roles) == nil {
		// The role suffices: the node refused the request itself (a forbidden path, say),
		// and its words are the explanation.
		return fmt.Sprintf("%s refused: %s", method, msg)
	}
	return fmt.Sprintf("your certificate's role (%s) may not call %s; it needs %s (%s): ask an administrator for a certificate made with kilnctl gen cert --role %s",
		have, method, need, msg, need)
}

func joinRoles(roles []rbac.Role) string {
	names := make([]string, len(roles))
	for i, r := range roles {
		names[i] = string(r)
	}
	return strings.Join(names, ", ")
}

func explainUnary(roles []rbac.Role, maintenance bool) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		return explain(invoker(ctx, method, req, reply, cc, opts...), method, roles, maintenance)
	}
}

func explainStream(roles []rbac.Role, maintenance bool) grpc.StreamClientInterceptor {
	return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		stream, err := streamer(ctx, desc, cc, method, opts...)
		if err != nil {
			return nil, explain(err, method, roles, maintenance)
		}
		return &explainedStream{ClientStream: stream, method: method, roles: roles, maintenance: maintenance}, nil
	}
}

// explainedStream explains the error that ends a server stream; io.EOF passes unchanged.
type explainedStream struct {
	grpc.ClientStream
	method      string
	roles       []rbac.Role
	maintenance bool
}

func (s *explainedStream) RecvMsg(m any) error {
	return explain(s.ClientStream.RecvMsg(m), s.method, s.roles, s.maintenance)
}
