package apid

import (
	"context"
	"net"
	"testing"

	"github.com/sirupsen/logrus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/kiln-os/kiln/api/rbac"
)

// TestServicesApidServesItselfStillWork: a unary service registered on apid's own server
// is gated like a forwarded one and decoded by the proto codec the frame codec falls back
// to, and none of its calls reach machined.
func TestServicesApidServesItselfStillWork(t *testing.T) {
	allowInRBAC(t, rbac.Reader, healthpb.Health_Check_FullMethodName)
	ca := newTestCA(t, "ca")
	echo, backend := startEchoBackend(t)
	s := &Server{Certificate: ca.server(t), ClientCAs: ca.Pool, Backend: backend, Log: logrus.New()}
	srv := s.newGRPCServer()
	healthpb.RegisterHealthServer(srv, health.NewServer())
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)

	check := func(orgs ...string) (*healthpb.HealthCheckResponse, error) {
		cert := ca.client(t, "someone", orgs...)
		return healthpb.NewHealthClient(dial(t, lis.Addr().String(), ca.Pool, &cert)).
			Check(context.Background(), &healthpb.HealthCheckRequest{})
	}
	resp, err := check("os:reader")
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("reader health check: %v, %v; want SERVING", resp, err)
	}
	if _, err := check("acme"); status.Code(err) != codes.PermissionDenied {
		t.Errorf("health check without a role: %v, want PermissionDenied", err)
	}
	if n := echo.callCount(); n != 0 {
		t.Errorf("machined saw %d calls meant for apid's own service", n)
	}
}
