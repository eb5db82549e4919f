package apid

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/kiln-os/kiln/api/machine"

	"github.com/kiln-os/kiln/internal/testpki"
)

// testCA is an in-memory certificate authority (internal/testpki).
type testCA struct{ *testpki.CA }

func newTestCA(t *testing.T, name string) testCA { return testCA{testpki.NewCA(t, name)} }

func (ca testCA) client(t *testing.T, cn string, orgs ...string) tls.Certificate {
	return ca.Client(t, cn, time.Time{}, orgs...)
}

func (ca testCA) server(t *testing.T) tls.Certificate { return ca.Server(t) }

// startBackend serves a fake machined on a unix socket in a temp dir and returns a
// connection to it.
func startBackend(t *testing.T, register func(*grpc.Server), opts ...grpc.ServerOption) *grpc.ClientConn {
	t.Helper()
	socket := filepath.Join(t.TempDir(), "machined.sock")
	lis, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(opts...)
	if register != nil {
		register(srv)
	}
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	conn, err := DialMachined(socket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// echoBackend answers every method with an empty message and records what it saw.
type echoBackend struct {
	mu      sync.Mutex
	calls   []string
	lastMD  metadata.MD
	failing bool
}

func (e *echoBackend) handle(_ any, stream grpc.ServerStream) error {
	method, _ := grpc.MethodFromServerStream(stream)
	md, _ := metadata.FromIncomingContext(stream.Context())
	e.mu.Lock()
	e.calls = append(e.calls, method)
	e.lastMD = md
	e.mu.Unlock()
	if err := stream.RecvMsg(&emptypb.Empty{}); err != nil {
		return err
	}
	return stream.SendMsg(&emptypb.Empty{})
}

func (e *echoBackend) callCount() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.calls)
}

func startEchoBackend(t *testing.T) (*echoBackend, *grpc.ClientConn) {
	echo := &echoBackend{}
	return echo, startBackend(t, nil, grpc.UnknownServiceHandler(echo.handle))
}

// eventsBackend is a fake machined whose Events stream ticks every interval while
// following, and which reports when a stream's context ends.
type eventsBackend struct {
	machine.UnimplementedMachineServiceServer
	interval time.Duration
	ended    chan struct{}
	started  atomic.Int32 // Events calls that reached machined
}

func (b *eventsBackend) Version(context.Context, *machine.VersionRequest) (*machine.VersionResponse, error) {
	return &machine.VersionResponse{Version: "v0-test"}, nil
}

func (b *eventsBackend) Events(req *machine.EventsRequest, stream machine.MachineService_EventsServer) error {
	b.started.Add(1)
	defer func() {
		select {
		case b.ended <- struct{}{}:
		default:
		}
	}()
	tick := time.NewTicker(b.interval)
	defer tick.Stop()
	for seq := uint64(1); ; seq++ {
		if err := stream.Send(&machine.Event{Seq: seq, Type: "info", Name: "tick", State: "done"}); err != nil {
			return err
		}
		if !req.Follow {
			return nil
		}
		select {
		case <-stream.Context().Done():
			return stream.Context().Err()
		case <-tick.C:
		}
	}
}

func startEventsBackend(t *testing.T, interval time.Duration) (*eventsBackend, *grpc.ClientConn) {
	b := &eventsBackend{interval: interval, ended: make(chan struct{}, 1)}
	return b, startBackend(t, func(s *grpc.Server) { machine.RegisterMachineServiceServer(s, b) })
}

// startAPID serves s on a loopback port until the test ends and returns the address.
func startAPID(t *testing.T, s *Server) string {
	t.Helper()
	if s.Log == nil {
		log := logrus.New()
		log.SetOutput(testWriter{t})
		s.Log = log
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, lis) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return lis.Addr().String()
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", p)
	return len(p), nil
}

// dial connects a client with cert (nil: none) that trusts roots.
func dial(t *testing.T, addr string, roots *x509.CertPool, cert *tls.Certificate) *grpc.ClientConn {
	t.Helper()
	cfg := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS13}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	return dialTLS(t, addr, cfg)
}

func dialTLS(t *testing.T, addr string, cfg *tls.Config) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// call invokes method with an empty request through a generic stream (which works for
// unary and server-streaming methods alike) and returns the first response's error.
func call(ctx context.Context, conn *grpc.ClientConn, method string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	stream, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, method)
	if err != nil {
		return err
	}
	if err := stream.SendMsg(&emptypb.Empty{}); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	if err := stream.CloseSend(); err != nil {
		return err
	}
	return stream.RecvMsg(&emptypb.Empty{})
}
