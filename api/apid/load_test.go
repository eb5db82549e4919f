package apid

import (
	"context"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/kiln-os/kiln/api/machine"
)

const (
	loadCallers = 200
	loadStreams = 20
	loadConns   = 10 // client connections the callers share, as several kilnctl processes would
)

// TestLoad runs 200 goroutines calling Version and 20 following Events streams (machined
// emits an event every 10 ms) against one apid for 30 s (3 s with -short). It requires zero
// errors, bounded heap growth and no leaked goroutines, and logs the figures for
// docs/benchmarks.md.
func TestLoad(t *testing.T) {
	duration := 30 * time.Second
	if testing.Short() {
		duration = 3 * time.Second
	}
	goroutinesBefore := runtime.NumGoroutine()
	heapBefore := heapInUse()

	var res loadResult
	t.Run("run", func(t *testing.T) { res = runLoad(t, duration) })

	heapAfter := heapInUse()
	goroutinesAfter := settledGoroutines(goroutinesBefore)
	p50, p99 := percentile(res.latencies, 50), percentile(res.latencies, 99)
	t.Logf("apid load, %v: %d Version callers, %d Events streams (event every 10 ms), GOMAXPROCS=%d",
		duration, loadCallers, loadStreams, runtime.GOMAXPROCS(0))
	t.Logf("Version: %d calls, %.0f calls/s, p50 %v, p99 %v, errors %d",
		len(res.latencies), float64(len(res.latencies))/duration.Seconds(), p50, p99, res.errors)
	t.Logf("Events: %d events forwarded, %.0f events/s over %d streams",
		res.events, float64(res.events)/duration.Seconds(), loadStreams)
	t.Logf("heap in use after GC: before %.1f MiB, after %.1f MiB; goroutines before %d, after %d (peak %d)",
		mib(heapBefore), mib(heapAfter), goroutinesBefore, goroutinesAfter, res.peakGoroutines)

	if n := res.errors; n != 0 {
		t.Errorf("%d errors under load, want 0", n)
	}
	if len(res.latencies) == 0 || res.events == 0 {
		t.Errorf("no traffic: %d calls, %d events", len(res.latencies), res.events)
	}
	if grew := int64(heapAfter) - int64(heapBefore); grew > 64<<20 {
		t.Errorf("heap grew %.1f MiB, want at most 64 MiB", mib(uint64(grew)))
	}
	if goroutinesAfter > goroutinesBefore+5 {
		t.Errorf("goroutines: %d before, %d after the load: leaked", goroutinesBefore, goroutinesAfter)
	}
}

type loadResult struct {
	latencies      []time.Duration
	errors         int64
	events         int64
	peakGoroutines int
}

func runLoad(t *testing.T, duration time.Duration) loadResult {
	ca := newTestCA(t, "ca")
	_, backend := startEventsBackend(t, 10*time.Millisecond)
	addr := startAPID(t, &Server{
		Certificate: ca.server(t), ClientCAs: ca.Pool, Backend: backend,
		// Every caller here shares one certificate, so the per-caller limit is lifted.
		Limits: Limits{RatePerSecond: 1e9, Burst: 1 << 30},
	})
	cert := ca.client(t, "load", "os:reader")
	conns := make([]*grpc.ClientConn, loadConns)
	for i := range conns {
		conns[i] = dial(t, addr, ca.Pool, &cert)
	}
	ctx, cancel := context.WithTimeout(context.Background(), duration)
	defer cancel()

	var res loadResult
	var errs, events atomic.Int64
	var wg sync.WaitGroup
	perCaller := make([][]time.Duration, loadCallers)
	for i := range loadCallers {
		wg.Go(func() { perCaller[i] = callVersion(ctx, conns[i%loadConns], &errs) })
	}
	// The streams come from followers of their own, each within MaxStreamsPerCaller.
	followers := make([]*grpc.ClientConn, (loadStreams+MaxStreamsPerCaller-1)/MaxStreamsPerCaller)
	for i := range followers {
		cert := ca.client(t, "follower-"+strconv.Itoa(i), "os:reader")
		followers[i] = dial(t, addr, ca.Pool, &cert)
	}
	for i := range loadStreams {
		wg.Go(func() { followEvents(ctx, followers[i%len(followers)], &errs, &events) })
	}
	time.Sleep(duration / 2)
	res.peakGoroutines = runtime.NumGoroutine()
	wg.Wait()
	for _, l := range perCaller {
		res.latencies = append(res.latencies, l...)
	}
	res.errors, res.events = errs.Load(), events.Load()
	return res
}

func callVersion(ctx context.Context, conn *grpc.ClientConn, errs *atomic.Int64) []time.Duration {
	client := machine.NewMachineServiceClient(conn)
	var latencies []time.Duration
	for ctx.Err() == nil {
		start := time.Now()
		_, err := client.Version(ctx, &machine.VersionRequest{})
		if err != nil {
			if !ending(ctx) {
				errs.Add(1)
			}
			continue
		}
		latencies = append(latencies, time.Since(start))
	}
	return latencies
}

func followEvents(ctx context.Context, conn *grpc.ClientConn, errs, events *atomic.Int64) {
	stream, err := machine.NewMachineServiceClient(conn).Events(ctx, &machine.EventsRequest{Follow: true})
	if err != nil {
		errs.Add(1)
		return
	}
	for {
		if _, err := stream.Recv(); err != nil {
			if !ending(ctx) {
				errs.Add(1)
			}
			return
		}
		events.Add(1)
	}
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// settledGoroutines waits up to 5 s for goroutines of closed connections to exit.
func settledGoroutines(want int) int {
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > want && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	return runtime.NumGoroutine()
}

func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	if !slices.IsSorted(sorted) {
		slices.Sort(sorted)
	}
	return sorted[(len(sorted)-1)*p/100]
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// ending reports whether the run's own deadline is (all but) reached: gRPC checks a call's
// deadline against the clock itself and can fail it with DeadlineExceeded a moment before
// the context's timer fires, so calls cut off by the end of the run are not load errors.
func ending(ctx context.Context) bool {
	deadline, ok := ctx.Deadline()
	return ctx.Err() != nil || ok && time.Until(deadline) < 250*time.Millisecond
}
