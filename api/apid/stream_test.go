package apid

import (
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	"github.com/kiln-os/kiln/api/machine"
)

func TestEventsStreamForwardedAndCancelledEndToEnd(t *testing.T) {
	ca := newTestCA(t, "ca")
	backendSide, backend := startEventsBackend(t, 10*time.Millisecond)
	addr := startAPID(t, &Server{Certificate: ca.server(t), ClientCAs: ca.Pool, Backend: backend})
	cert := ca.client(t, "reader", "os:reader")
	client := machine.NewMachineServiceClient(dial(t, addr, ca.Pool, &cert))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, err := client.Events(ctx, &machine.EventsRequest{Follow: true, TailEvents: -1})
	if err != nil {
		t.Fatal(err)
	}
	for want := uint64(1); want <= 3; want++ {
		ev, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if ev.Seq != want {
			t.Fatalf("event seq %d, want %d", ev.Seq, want)
		}
	}
	cancel()
	select {
	case <-backendSide.ended:
	case <-time.After(5 * time.Second):
		t.Fatal("machined's Events stream still running 5 s after the client cancelled")
	}
	if _, err := stream.Recv(); status.Code(err) != codes.Canceled {
		t.Errorf("Recv after cancel: %v, want Canceled", err)
	}
}

func TestBackendErrorsReachTheClient(t *testing.T) {
	ca := newTestCA(t, "ca")
	_, backend := startEventsBackend(t, time.Millisecond)
	addr := startAPID(t, &Server{Certificate: ca.server(t), ClientCAs: ca.Pool, Backend: backend})
	cert := ca.client(t, "admin", "os:admin")
	client := machine.NewMachineServiceClient(dial(t, addr, ca.Pool, &cert))
	// The events backend does not implement Reboot: machined's Unimplemented must arrive as is.
	_, err := client.Reboot(context.Background(), &machine.RebootRequest{})
	if status.Code(err) != codes.Unimplemented {
		t.Errorf("Reboot: %v, want machined's Unimplemented", err)
	}
}

func TestReflectionOnlyForAdmin(t *testing.T) {
	f := newFixture(t, Limits{})
	list := func(orgs ...string) ([]string, error) {
		stream, err := grpc_reflection_v1.NewServerReflectionClient(f.clientAs(t, "someone", orgs...)).
			ServerReflectionInfo(context.Background())
		if err != nil {
			return nil, err
		}
		req := &grpc_reflection_v1.ServerReflectionRequest{
			MessageRequest: &grpc_reflection_v1.ServerReflectionRequest_ListServices{},
		}
		// A denied call may end before the request is sent; Recv then returns the status.
		if err := stream.Send(req); err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		resp, err := stream.Recv()
		if err != nil {
			return nil, err
		}
		var names []string
		for _, s := range resp.GetListServicesResponse().GetService() {
			names = append(names, s.Name)
		}
		return names, nil
	}
	names, err := list("os:admin")
	if err != nil {
		t.Fatalf("admin reflection: %v", err)
	}
	found := false
	for _, n := range names {
		found = found || n == "kiln.machine.v1.MachineService"
	}
	if !found {
		t.Errorf("reflection lists %v, want kiln.machine.v1.MachineService among them", names)
	}
	if _, err := list("os:reader"); status.Code(err) != codes.PermissionDenied {
		t.Errorf("reader reflection: %v, want PermissionDenied", err)
	}
}

func TestRateLimitPerCaller(t *testing.T) {
	f := newFixture(t, Limits{RatePerSecond: 1, Burst: 3})
	greedy := f.clientAs(t, "greedy", "os:reader")
	var ok, exhausted int
	for i := 0; i < 10; i++ {
		switch err := call(context.Background(), greedy, machine.MachineService_Version_FullMethodName); status.Code(err) {
		case codes.OK:
			ok++
		case codes.ResourceExhausted:
			exhausted++
		default:
			t.Fatalf("call %d: %v", i, err)
		}
	}
	// Ten calls take well under a second: the burst of 3, maybe one refilled token.
	if ok < 3 || ok > 4 || exhausted != 10-ok {
		t.Errorf("%d allowed, %d ResourceExhausted; want 3 or 4 allowed and the rest refused", ok, exhausted)
	}
	polite := f.clientAs(t, "polite", "os:reader")
	if err := call(context.Background(), polite, machine.MachineService_Version_FullMethodName); err != nil {
		t.Errorf("another caller was limited too: %v", err)
	}
}

// TestStreamsPerCallerAreLimited reproduces hole 5 on apid's side: one reader opens
// follow streams over several connections, each within the per-connection limit. Past
// MaxStreamsPerCaller apid refuses with ResourceExhausted naming the limit, and machined
// never sees the refused stream; another caller is still served, and ending a stream
// frees its slot.
func TestStreamsPerCallerAreLimited(t *testing.T) {
	ca := newTestCA(t, "ca")
	backendSide, backend := startEventsBackend(t, 50*time.Millisecond)
	addr := startAPID(t, &Server{Certificate: ca.server(t), ClientCAs: ca.Pool, Backend: backend,
		Limits: Limits{RatePerSecond: 1e6, Burst: 1e6}})
	greedy := ca.client(t, "greedy", "os:reader")
	const connections = 4
	var clients []machine.MachineServiceClient
	for range connections {
		clients = append(clients, machine.NewMachineServiceClient(dial(t, addr, ca.Pool, &greedy)))
	}
	follow := func(client machine.MachineServiceClient) (context.CancelFunc, error) { return openFollow(t, client) }

	var cancels []context.CancelFunc
	for i := range MaxStreamsPerCaller {
		cancel, err := follow(clients[i%connections])
		if err != nil {
			t.Fatalf("stream %d of %d: %v", i+1, MaxStreamsPerCaller, err)
		}
		cancels = append(cancels, cancel)
	}
	reached := backendSide.started.Load()
	_, err := follow(clients[MaxStreamsPerCaller%connections])
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), strconv.Itoa(MaxStreamsPerCaller)) {
		t.Fatalf("stream %d: %v, want ResourceExhausted naming the limit %d", MaxStreamsPerCaller+1, err, MaxStreamsPerCaller)
	}
	if got := backendSide.started.Load(); got != reached {
		t.Errorf("the refused stream reached machined (%d Events calls, want %d)", got, reached)
	}

	other := ca.client(t, "other", "os:reader")
	if _, err := follow(machine.NewMachineServiceClient(dial(t, addr, ca.Pool, &other))); err != nil {
		t.Errorf("another caller: %v, want served", err)
	}

	cancels[0]()
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := follow(clients[0])
		if err == nil {
			break
		}
		if status.Code(err) != codes.ResourceExhausted || time.Now().After(deadline) {
			t.Fatalf("after ending a stream: %v, want its slot free", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// openFollow opens an Events follow stream and waits for its first event; the stream
// ends with the test or when the returned cancel is called.
func openFollow(t *testing.T, client machine.MachineServiceClient) (context.CancelFunc, error) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	stream, err := client.Events(ctx, &machine.EventsRequest{Follow: true})
	if err == nil {
		_, err = stream.Recv()
	}
	return cancel, err
}

// TestStreamsInAllAreLimited: callers each within their own budget together reach
// MaxStreams; the next stream, from a caller that has none open, is refused naming it.
func TestStreamsInAllAreLimited(t *testing.T) {
	ca := newTestCA(t, "ca")
	_, backend := startEventsBackend(t, 50*time.Millisecond)
	addr := startAPID(t, &Server{Certificate: ca.server(t), ClientCAs: ca.Pool, Backend: backend,
		Limits: Limits{RatePerSecond: 1e6, Burst: 1e6}})
	for i := range MaxStreams {
		cert := ca.client(t, "reader-"+strconv.Itoa(i/MaxStreamsPerCaller), "os:reader")
		if _, err := openFollow(t, machine.NewMachineServiceClient(dial(t, addr, ca.Pool, &cert))); err != nil {
			t.Fatalf("stream %d of %d: %v", i+1, MaxStreams, err)
		}
	}
	late := ca.client(t, "late", "os:reader")
	_, err := openFollow(t, machine.NewMachineServiceClient(dial(t, addr, ca.Pool, &late)))
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), strconv.Itoa(MaxStreams)) {
		t.Errorf("stream %d: %v, want ResourceExhausted naming the limit %d", MaxStreams+1, err, MaxStreams)
	}
}
