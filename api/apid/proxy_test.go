package apid

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/kiln-os/kiln/api/machine"
	"github.com/kiln-os/kiln/api/rbac"
)

func TestClientStreamingUploadReachesTheBackend(t *testing.T) {
	f := newProbeFixture(t, Limits{}, rbac.Admin)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, MetadataCallerCN, "root")
	stream := f.open(ctx, t, "alice", "os:admin", clientStreaming, probeUpload)
	want := sha256.New()
	for i := range 40 {
		chunk := bytes.Repeat([]byte{byte(i)}, 64<<10)
		want.Write(chunk)
		if err := stream.SendMsg(wrapperspb.Bytes(chunk)); err != nil {
			t.Fatalf("chunk %d: %v", i, err)
		}
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	var sum wrapperspb.BytesValue
	if err := stream.RecvMsg(&sum); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(sum.Value, want.Sum(nil)) {
		t.Errorf("machined hashed %x, want %x", sum.Value, want.Sum(nil))
	}
	if err := stream.RecvMsg(&sum); !errors.Is(err, io.EOF) {
		t.Errorf("after the answer: %v, want io.EOF", err)
	}
	if got := stream.Trailer().Get("x-probe-chunks"); len(got) != 1 || got[0] != "40" {
		t.Errorf("trailer x-probe-chunks = %q, want [40]", got)
	}
	if _, _, cn := f.backend.seen(); cn != "alice" {
		t.Errorf("machined saw caller %q, want the certificate's alice", cn)
	}
	if left := time.Until(f.backend.lastDeadline()); left <= 0 || left > time.Minute {
		t.Errorf("machined's deadline is %v away, want the client's minute", left)
	}
}

func TestBidiStreamInterleavesAndCarriesHeadersAndTrailers(t *testing.T) {
	f := newProbeFixture(t, Limits{}, rbac.Reader)
	stream := f.open(context.Background(), t, "bob", "os:reader", bidiStreaming, probeChat)
	// Each answer is read before the next message is sent: the proxy must not wait for
	// the client to half-close before it forwards.
	for _, word := range []string{"one", "two", "three"} {
		if err := stream.SendMsg(wrapperspb.String(word)); err != nil {
			t.Fatal(err)
		}
		var answer wrapperspb.StringValue
		if err := stream.RecvMsg(&answer); err != nil {
			t.Fatal(err)
		}
		if answer.Value != "re: "+word {
			t.Errorf("answer %q, want %q", answer.Value, "re: "+word)
		}
	}
	header, err := stream.Header()
	if err != nil {
		t.Fatal(err)
	}
	if got := header.Get("x-probe-header"); len(got) != 1 || got[0] != "chat" {
		t.Errorf("header x-probe-header = %q, want [chat]", got)
	}
	if err := stream.SendMsg(wrapperspb.String("fail")); err != nil {
		t.Fatal(err)
	}
	err = stream.RecvMsg(&wrapperspb.StringValue{})
	if status.Code(err) != codes.FailedPrecondition || status.Convert(err).Message() != "probe: asked to fail" {
		t.Errorf("machined's error arrived as %v, want FailedPrecondition probe: asked to fail", err)
	}
	if got := stream.Trailer().Get("x-probe-trailer"); len(got) != 1 || got[0] != "bye" {
		t.Errorf("trailer x-probe-trailer = %q, want [bye]", got)
	}
}

func TestUnaryMethodOutsideTheGeneratedCodeIsForwarded(t *testing.T) {
	f := newProbeFixture(t, Limits{}, rbac.Reader)
	conn := f.clientAs(t, "carol", "os:reader")
	var out wrapperspb.BytesValue
	if err := conn.Invoke(context.Background(), probeDouble, wrapperspb.Bytes([]byte("ab")), &out); err != nil {
		t.Fatal(err)
	}
	if string(out.Value) != "abab" {
		t.Errorf("Double(ab) = %q, want abab", out.Value)
	}
}

func TestUnknownMethodsNeverReachTheBackend(t *testing.T) {
	f := newFixture(t, Limits{})
	conn := f.clientAs(t, "root", "os:admin")
	for _, method := range []string{
		"/kiln.machine.v1.MachineService/Nope",
		"/" + probeService + "/Upload", // a real method, but not in the RBAC table
		"/grpc.health.v1.Health/Check",
	} {
		err := call(context.Background(), conn, method)
		if status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "not in the RBAC table") {
			t.Errorf("%s: %v, want PermissionDenied: not in the RBAC table", method, err)
		}
	}
	if n := f.echo.callCount(); n != 0 {
		t.Errorf("backend saw %d calls to unknown methods, want 0", n)
	}
}

func TestDeniedRoleNeverReachesTheBackend(t *testing.T) {
	f := newProbeFixture(t, Limits{}, rbac.Admin)
	stream := f.open(context.Background(), t, "dave", "os:operator", clientStreaming, probeUpload)
	// The gate answers before any message is read, so the send may already see the end.
	if err := stream.SendMsg(wrapperspb.Bytes([]byte("x"))); err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	stream.CloseSend()
	err := stream.RecvMsg(&wrapperspb.BytesValue{})
	if status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "os:admin") {
		t.Errorf("operator uploading: %v, want PermissionDenied naming os:admin", err)
	}
	if calls, _, _ := f.backend.seen(); calls != 0 {
		t.Errorf("backend saw %d calls from a denied role, want 0", calls)
	}
}

func TestOversizedUploadChunkIsRefusedAtTheEdge(t *testing.T) {
	f := newProbeFixture(t, Limits{MaxRecvMsgSize: 4 << 10}, rbac.Admin)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream := f.open(ctx, t, "alice", "os:admin", clientStreaming, probeUpload)
	for _, size := range []int{1 << 10, 8 << 10} {
		if err := stream.SendMsg(wrapperspb.Bytes(make([]byte, size))); err != nil && !errors.Is(err, io.EOF) {
			t.Fatal(err)
		}
	}
	err := stream.RecvMsg(&wrapperspb.BytesValue{})
	if status.Code(err) != codes.ResourceExhausted {
		t.Errorf("8 KiB chunk over a 4 KiB limit: %v, want ResourceExhausted", err)
	}
	select {
	case <-f.backend.ended:
	case <-ctx.Done():
		t.Fatal("machined's upload still running after apid refused the chunk")
	}
	// The 1 KiB chunk may or may not beat the cancel to machined; the 8 KiB one never
	// gets there.
	if _, chunks, _ := f.backend.seen(); chunks > 1 {
		t.Errorf("machined received %d chunks, want at most the 1 KiB one", chunks)
	}
}

func TestOversizedAnswerIsRefusedAtTheEdge(t *testing.T) {
	f := newProbeFixture(t, Limits{MaxSendMsgSize: 16 << 10}, rbac.Reader)
	conn := f.clientAs(t, "carol", "os:reader")
	var out wrapperspb.BytesValue
	err := conn.Invoke(context.Background(), probeDouble, wrapperspb.Bytes(make([]byte, 12<<10)), &out)
	if status.Code(err) != codes.ResourceExhausted {
		t.Errorf("24 KiB answer over a 16 KiB limit: %v, want ResourceExhausted", err)
	}
}

func TestConcurrentStreamLimitHoldsForForwardedStreams(t *testing.T) {
	ca := newTestCA(t, "ca")
	_, backend := startEventsBackend(t, 10*time.Millisecond)
	addr := startAPID(t, &Server{Certificate: ca.server(t), ClientCAs: ca.Pool, Backend: backend,
		Limits: Limits{MaxConcurrentStreams: 1}})
	cert := ca.client(t, "reader", "os:reader")
	client := machine.NewMachineServiceClient(dial(t, addr, ca.Pool, &cert))

	follow, cancelFollow := context.WithCancel(context.Background())
	defer cancelFollow()
	events, err := client.Events(follow, &machine.EventsRequest{Follow: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := events.Recv(); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := client.Version(short, &machine.VersionRequest{}); status.Code(err) != codes.DeadlineExceeded {
		t.Errorf("second call while the one stream allowed is open: %v, want it held until DeadlineExceeded", err)
	}
	cancelFollow()
	if _, err := client.Version(context.Background(), &machine.VersionRequest{}); err != nil {
		t.Errorf("Version after the stream ended: %v", err)
	}
}

func TestSlowFollowerHoldsBackTheBackend(t *testing.T) {
	f := newProbeFixture(t, Limits{}, rbac.Reader)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream := f.open(ctx, t, "slow", "os:reader", serverStreaming, probeFlood)
	const size = 64 << 10
	if err := stream.SendMsg(wrapperspb.UInt32(size)); err != nil {
		t.Fatal(err)
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	// The client reads nothing. Flow control must stop machined's sends once the windows
	// of both hops are full; apid itself holds one message at a time.
	sent := settledCount(t, &f.backend.sent)
	t.Logf("machined sent %d messages of %d KiB before flow control held it", sent, size>>10)
	if held := sent * size; held > 32<<20 {
		t.Errorf("machined sent %d MiB to a client that reads nothing, want it held back by flow control", held>>20)
	}
	cancel()
	select {
	case <-f.backend.ended:
	case <-time.After(5 * time.Second):
		t.Fatal("machined's stream still running 5 s after the slow client cancelled")
	}
}

// settledCount waits until n stops growing for half a second and returns it.
func settledCount(t *testing.T, n interface{ Load() int64 }) int64 {
	deadline := time.Now().Add(20 * time.Second)
	last := int64(-1)
	for time.Now().Before(deadline) {
		time.Sleep(500 * time.Millisecond)
		now := n.Load()
		if now == last && now > 0 {
			return now
		}
		last = now
	}
	t.Fatalf("count not settled after 20 s at %d (0: machined never sent)", last)
	return 0
}

// TestReflectionNamesForwardedServices: the proxy registers no service, yet grpcurl and
// friends must still find every service the RBAC table lets through.
func TestReflectionNamesForwardedServices(t *testing.T) {
	allowInRBAC(t, rbac.Reader, probeUpload)
	info := advertised{grpc.NewServer()}.GetServiceInfo()
	for _, service := range []string{"kiln.machine.v1.MachineService", probeService} {
		if _, ok := info[service]; !ok {
			t.Errorf("reflection does not name %s", service)
		}
	}
}

// TestUpgradeIsBudgetedAsAStream: Upgrade holds a connection for as long as the upload
// takes, so the stream budget must count it like Logs or Events, and its 1 MiB chunks must
// fit apid's default message limit.
func TestUpgradeIsBudgetedAsAStream(t *testing.T) {
	methods := streamingMethods(grpc.NewServer())
	if !methods[machine.MachineService_Upgrade_FullMethodName] {
		t.Errorf("streamingMethods lacks %s", machine.MachineService_Upgrade_FullMethodName)
	}
	if methods[machine.MachineService_Rollback_FullMethodName] {
		t.Errorf("streamingMethods counts the unary %s", machine.MachineService_Rollback_FullMethodName)
	}
	if chunk, limit := 1<<20+64, (Limits{}).withDefaults().MaxRecvMsgSize; chunk > limit {
		t.Errorf("a 1 MiB Upgrade chunk with framing (%d bytes) exceeds MaxRecvMsgSize %d", chunk, limit)
	}
}
