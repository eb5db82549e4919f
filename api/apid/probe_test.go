package apid

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/kiln-os/kiln/api/rbac"
)

// probeService exists only in these tests: no generated code and no line of apid names
// it, so a call that reaches its backend went through the generic proxy.
const probeService = "kiln.apidtest.v1.Probe"

const (
	probeUpload = "/" + probeService + "/Upload" // client-streaming, as Upgrade will be
	probeChat   = "/" + probeService + "/Chat"   // bidirectional
	probeDouble = "/" + probeService + "/Double" // unary
	probeFlood  = "/" + probeService + "/Flood"  // server-streaming, never ends by itself
)

var (
	clientStreaming = &grpc.StreamDesc{ClientStreams: true}
	bidiStreaming   = &grpc.StreamDesc{ClientStreams: true, ServerStreams: true}
	serverStreaming = &grpc.StreamDesc{ServerStreams: true}
)

var probeDesc = grpc.ServiceDesc{
	ServiceName: probeService,
	HandlerType: (*any)(nil),
	Methods:     []grpc.MethodDesc{{MethodName: "Double", Handler: probeDoubleHandler}},
	Streams: []grpc.StreamDesc{
		{StreamName: "Upload", Handler: probeUploadHandler, ClientStreams: true},
		{StreamName: "Chat", Handler: probeChatHandler, ClientStreams: true, ServerStreams: true},
		{StreamName: "Flood", Handler: probeFloodHandler, ServerStreams: true},
	},
}

// probeBackend is a fake machined serving probeService. It records what reached it.
type probeBackend struct {
	mu       sync.Mutex
	calls    int
	chunks   int
	callerCN string
	deadline time.Time  // of the last call; zero without one
	ended    chan error // each stream's end, for cancellation checks
	sent     atomic.Int64
}

func (p *probeBackend) record(ctx context.Context) {
	md, _ := metadata.FromIncomingContext(ctx)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	p.deadline, _ = ctx.Deadline()
	if cn := md.Get(MetadataCallerCN); len(cn) == 1 {
		p.callerCN = cn[0]
	}
}

func (p *probeBackend) seen() (calls, chunks int, callerCN string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls, p.chunks, p.callerCN
}

func (p *probeBackend) lastDeadline() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.deadline
}

func (p *probeBackend) end(err error) error {
	select {
	case p.ended <- err:
	default:
	}
	return err
}

// probeUploadHandler answers the SHA-256 of every chunk's bytes, in order, with the chunk
// count in a trailer.
func probeUploadHandler(srv any, stream grpc.ServerStream) error {
	p := srv.(*probeBackend)
	p.record(stream.Context())
	sum := sha256.New()
	for {
		var chunk wrapperspb.BytesValue
		err := stream.RecvMsg(&chunk)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return p.end(err)
		}
		p.mu.Lock()
		p.chunks++
		p.mu.Unlock()
		sum.Write(chunk.Value)
	}
	_, chunks, _ := p.seen()
	stream.SetTrailer(metadata.Pairs("x-probe-chunks", strconv.Itoa(chunks)))
	return p.end(stream.SendMsg(wrapperspb.Bytes(sum.Sum(nil))))
}

// probeChatHandler answers each message as it comes, with a header before the first and
// a trailer after the last; "fail" ends the call with FailedPrecondition.
func probeChatHandler(srv any, stream grpc.ServerStream) error {
	p := srv.(*probeBackend)
	p.record(stream.Context())
	if err := stream.SendHeader(metadata.Pairs("x-probe-header", "chat")); err != nil {
		return err
	}
	stream.SetTrailer(metadata.Pairs("x-probe-trailer", "bye"))
	for {
		var msg wrapperspb.StringValue
		err := stream.RecvMsg(&msg)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if msg.Value == "fail" {
			return status.Error(codes.FailedPrecondition, "probe: asked to fail")
		}
		if err := stream.SendMsg(wrapperspb.String("re: " + msg.Value)); err != nil {
			return err
		}
	}
}

// probeDoubleHandler answers the request's bytes twice over.
func probeDoubleHandler(srv any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
	p := srv.(*probeBackend)
	p.record(ctx)
	var in wrapperspb.BytesValue
	if err := dec(&in); err != nil {
		return nil, err
	}
	return wrapperspb.Bytes(append(in.Value, in.Value...)), nil
}

// probeFloodHandler sends messages of the requested size as fast as the stream takes
// them, until the call ends.
func probeFloodHandler(srv any, stream grpc.ServerStream) error {
	p := srv.(*probeBackend)
	p.record(stream.Context())
	var size wrapperspb.UInt32Value
	if err := stream.RecvMsg(&size); err != nil {
		return p.end(err)
	}
	msg := wrapperspb.Bytes(make([]byte, size.Value))
	for {
		if err := stream.SendMsg(msg); err != nil {
			return p.end(err)
		}
		p.sent.Add(1)
	}
}

// probeFixture is apid in front of a probe backend, with the probe's methods in the RBAC
// table for the test's duration.
type probeFixture struct {
	ca      testCA
	backend *probeBackend
	addr    string
}

func newProbeFixture(t *testing.T, limits Limits, need rbac.Role) *probeFixture {
	t.Helper()
	allowInRBAC(t, need, probeUpload, probeChat, probeDouble, probeFlood)
	p := &probeBackend{ended: make(chan error, 1)}
	conn := startBackend(t, func(s *grpc.Server) { s.RegisterService(&probeDesc, p) })
	ca := newTestCA(t, "kiln os ca")
	addr := startAPID(t, &Server{Certificate: ca.server(t), ClientCAs: ca.Pool, Backend: conn, Limits: limits})
	return &probeFixture{ca: ca, backend: p, addr: addr}
}

func (f *probeFixture) clientAs(t *testing.T, cn string, orgs ...string) *grpc.ClientConn {
	cert := f.ca.client(t, cn, orgs...)
	return dial(t, f.addr, f.ca.Pool, &cert)
}

// open starts a call to method as the client cn holding role.
func (f *probeFixture) open(ctx context.Context, t *testing.T, cn, role string, desc *grpc.StreamDesc, method string) grpc.ClientStream {
	t.Helper()
	stream, err := f.clientAs(t, cn, role).NewStream(ctx, desc, method)
	if err != nil {
		t.Fatal(err)
	}
	return stream
}

// allowInRBAC adds methods to the RBAC table until the test ends: the one line an RPC
// needs in apid's world.
func allowInRBAC(t *testing.T, need rbac.Role, methods ...string) {
	for _, m := range methods {
		if _, ok := rbac.Methods[m]; ok {
			t.Fatalf("%s is in the RBAC table already", m)
		}
		rbac.Methods[m] = need
	}
	t.Cleanup(func() {
		for _, m := range methods {
			delete(rbac.Methods, m)
		}
	})
}
