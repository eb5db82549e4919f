package machineapi

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/kiln-os/kiln/api/machine"
	"github.com/kiln-os/kiln/initd/events"
	"github.com/kiln-os/kiln/initd/eventsink"
)

// as returns ctx carrying who as the caller, the way apid forwards it.
func as(ctx context.Context, who string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "x-kiln-caller-cn", who)
}

// followEvents opens an Events follow as who and returns the first reply's error.
func followEvents(ctx context.Context, c machine.MachineServiceClient, who string) error {
	stream, err := c.Events(as(ctx, who), &machine.EventsRequest{Follow: true, TailEvents: 1})
	if err != nil {
		return err
	}
	_, err = stream.Recv()
	return err
}

// One caller opening follows without end must be refused at MaxStreamsPerCaller, while
// another caller is still served.
func TestStreamsPerCallerAreLimited(t *testing.T) {
	sink := eventsink.New(nil, nil)
	sink.Emit(events.Event{Type: events.TypeBoot, Name: "machined", State: events.StateStarted})
	c := start(t, &Server{EventSink: sink})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	first, closeFirst := context.WithCancel(ctx)
	if err := followEvents(first, c, "alice"); err != nil {
		t.Fatalf("first follow: %v", err)
	}
	for i := 1; i < MaxStreamsPerCaller; i++ {
		if err := followEvents(ctx, c, "alice"); err != nil {
			t.Fatalf("follow %d of %d: %v", i+1, MaxStreamsPerCaller, err)
		}
	}
	err := followEvents(ctx, c, "alice")
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), strconv.Itoa(MaxStreamsPerCaller)) {
		t.Fatalf("follow %d: %v, want ResourceExhausted naming the limit %d", MaxStreamsPerCaller+1, err, MaxStreamsPerCaller)
	}
	if err := followEvents(ctx, c, "bob"); err != nil {
		t.Fatalf("another caller's follow: %v", err)
	}
	closeFirst()
	waitFor(t, "a closed stream to give back its place", func() bool { return followEvents(ctx, c, "alice") == nil })
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if ok() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// fakeKmsg is a FIFO that reads like an idle /dev/kmsg: empty, never at end (the test
// holds the write end open), and pollable, so a Dmesg follow holds it open and waits.
func fakeKmsg(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kmsg")
	if err := unix.Mkfifo(path, 0o600); err != nil {
		t.Fatal(&os.PathError{Op: "mkfifo", Path: path, Err: err})
	}
	w, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return path
}

func openFDs(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(fds)
}

// Every Dmesg follow holds a kmsg descriptor in PID 1: however many callers ask, the
// descriptors held stay within MaxStreams.
func TestDmesgFollowsKeepDescriptorsBounded(t *testing.T) {
	c := start(t, &Server{Kmsg: fakeKmsg(t)})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	before := openFDs(t)
	const asked = MaxStreams + 100
	refused := make(chan error, asked)
	for i := 0; i < asked; i++ {
		// Distinct callers, so only the global cap can hold them back.
		stream, err := c.Dmesg(as(ctx, "reader"+strconv.Itoa(i)), &machine.DmesgRequest{Follow: true, TailLines: -1})
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			_, err := stream.Recv()
			refused <- err
		}()
	}
	for i := 0; i < asked-MaxStreams; i++ {
		select {
		case err := <-refused:
			if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), strconv.Itoa(MaxStreams)) {
				t.Fatalf("stream refused with %v, want ResourceExhausted naming the limit %d", err, MaxStreams)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%d of %d Dmesg follows refused; PID 1 holds %d more descriptors than before (cap %d)",
				i, asked, openFDs(t)-before, MaxStreams)
		}
	}
	// Slack for the gRPC connection and the runtime's poller, never one per stream.
	const slack = 8
	if held := openFDs(t) - before; held > MaxStreams+slack {
		t.Errorf("%d descriptors held after %d Dmesg follows, want at most %d", held, asked, MaxStreams+slack)
	}
}
