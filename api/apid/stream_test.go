package apid

import (
	"context"
	"errors"
	"io"
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
