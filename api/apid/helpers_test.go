package apid

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/kiln-os/kiln/api/machine"
)

// testCA is an in-memory certificate authority.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

var serials struct {
	sync.Mutex
	next int64
}

// issue signs a leaf certificate; tmpl sets the subject, validity and usages.
func (ca *testCA) issue(t *testing.T, tmpl *x509.Certificate) tls.Certificate {
	t.Helper()
	serials.Lock()
	serials.next++
	tmpl.SerialNumber = big.NewInt(1000 + serials.next)
	serials.Unlock()
	if tmpl.NotAfter.IsZero() {
		tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	}
	key := newKey(t)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func (ca *testCA) client(t *testing.T, cn string, orgs ...string) tls.Certificate {
	return ca.issue(t, &x509.Certificate{
		Subject:     pkix.Name{CommonName: cn, Organization: orgs},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
}

func (ca *testCA) server(t *testing.T) tls.Certificate {
	return ca.issue(t, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "node"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
}

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
}

func (b *eventsBackend) Version(context.Context, *machine.VersionRequest) (*machine.VersionResponse, error) {
	return &machine.VersionResponse{Version: "v0-test"}, nil
}

func (b *eventsBackend) Events(req *machine.EventsRequest, stream machine.MachineService_EventsServer) error {
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
