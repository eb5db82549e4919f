package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/kiln-os/kiln/api/apid"
	"github.com/kiln-os/kiln/api/machine"
	"github.com/kiln-os/kiln/config"
	"github.com/kiln-os/kiln/initd/events"
	"github.com/kiln-os/kiln/initd/resources"
	"github.com/kiln-os/kiln/qemu"
)

// Bounds on PID 1 under a reader's abuse. DESIGN.md ("API"): "PID 1's descriptors and
// heap stay bounded whatever a reader does." machined serves at most
// machineapi.MaxStreams (64) streams, and the costliest holds one descriptor (a Dmesg
// follow's /dev/kmsg), so open streams may add at most that many descriptors; the heap
// bound leaves room for the event and log rings (eventsink.HistorySize,
// logbuf.DefaultSize) and one decoded config (config.MaxSize) many times over.
const (
	abuseMaxExtraFDs = 64       // descriptors over the baseline while the streams are open
	abuseMaxLeftFDs  = 4        // descriptors over the baseline once they are closed
	abuseMaxHeap     = 64 << 20 // bytes of Go heap in use (HeapAlloc), at any reading
)

const (
	abuseReaders     = 5       // reader certificates: together more than apid.MaxStreams
	abuseConnections = 3       // connections per reader
	abuseApplies     = 4       // oversized configs sent to the maintenance port
	abuseApplySize   = 4 << 20 // bytes each
	abuseStreamWait  = 20 * time.Second
	abuseReleaseWait = 60 * time.Second // for the descriptors to come back after the streams close
)

// processFigures is one reading of runtime/ProcessStats, as abuse.json records it.
type processFigures struct {
	Version   uint64 `json:"version"`
	FDs       int    `json:"fds"`
	HeapAlloc uint64 `json:"heapAlloc"`
	HeapSys   uint64 `json:"heapSys"`
}

// TestReaderAbuse is issue 12's abuse run (hole 5, "done when"): against one node, big
// configs at the maintenance port, then readers opening Dmesg, Logs and Events follow
// streams over several connections until apid and machined refuse them; PID 1's
// descriptors and heap (runtime/ProcessStats) are read before, during and after, written
// to _out/qemu-logs/abuse.json, and held to the bounds above.
func TestReaderAbuse(t *testing.T) {
	img := requireImage(t)
	work := t.TempDir()
	c := ctl{t: t, bin: buildKilnctl(t, work), config: filepath.Join(work, "kiln-config")}
	hostPort := freePort(t)
	c.node = fmt.Sprintf("127.0.0.1:%d", hostPort)
	c.must("gen", "config", "--kubernetes=false", "--name", "e2e", "--endpoint", "https://10.0.2.15:6443", "--out", work)
	nodeConfig := writeNodeConfig(t, work)
	disk := filepath.Join(work, "disk.raw")
	copySparse(t, artifact(t, img, "disk"), disk)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	vm := start(t, ctx, img, "abuse", img.cmdline, qemu.WithDisk(disk),
		qemu.WithUserNet(qemu.Forward{HostPort: hostPort, GuestPort: 50000}), qemu.WithTPM(filepath.Join(work, "tpm")))
	m, err := waitFor(ctx, vm, bootTimeout, qemu.Any(qemu.Match(events.TypeInfo, "maintenance", events.StateWaiting), qemu.Failed))
	if err != nil || m.State != events.StateWaiting {
		t.Fatalf("no maintenance mode: %v %+v (serial %s)", err, m, vm.LogPath())
	}
	oversizedApplies(t, c.node)
	c.must("--fingerprint", m.Fields["fingerprint"], "apply-config", "-f", nodeConfig)
	waitBoot(t, ctx, vm, 0)

	cp, err := config.Load(filepath.Join(work, "controlplane.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	stats := machine.NewMachineServiceClient(roleConn(t, c.node, cp, "abuse-watcher", config.RoleReader))
	// The baseline is a reading published after this connection was up: the first one
	// the node has may date from before its services (and their connections) started.
	before := readProcessFigures(t, ctx, stats, readProcessFigures(t, ctx, stats, 0).Version)

	streamCtx, closeStreams := context.WithCancel(ctx)
	opened := followUntilRefused(t, streamCtx, c.node, cp)
	t.Logf("%d follow streams open; no reader-allowed RPC emits events, so there is no event flood", opened)
	during := readProcessFigures(t, ctx, stats, before.Version)
	closeStreams()
	// apid and machined end the backend streams as the cancellations arrive; under TCG
	// that takes seconds. Descriptors still held after abuseReleaseWait are a leak.
	closedAt := time.Now()
	afterClose := readProcessFigures(t, ctx, stats, during.Version)
	for afterClose.FDs > before.FDs+abuseMaxLeftFDs && time.Since(closedAt) < abuseReleaseWait {
		afterClose = readProcessFigures(t, ctx, stats, afterClose.Version)
	}
	released := time.Since(closedAt).Round(time.Second)

	writeAbuseFigures(t, img, map[string]any{
		"streams": opened, "oversizedApplies": abuseApplies, "applyBytes": abuseApplySize,
		"before": before, "during": during, "after": afterClose, "releaseSeconds": released.Seconds(),
		"bounds": map[string]any{"maxExtraFDs": abuseMaxExtraFDs, "maxLeftFDs": abuseMaxLeftFDs, "maxHeapAlloc": abuseMaxHeap},
	})
	if opened > apid.MaxStreams {
		t.Errorf("%d streams open at once, more than apid.MaxStreams (%d)", opened, apid.MaxStreams)
	}
	if during.FDs > before.FDs+abuseMaxExtraFDs {
		t.Errorf("PID 1 held %d descriptors with the streams open, baseline %d: more than %d over", during.FDs, before.FDs, abuseMaxExtraFDs)
	}
	if afterClose.FDs > before.FDs+abuseMaxLeftFDs {
		t.Errorf("PID 1 holds %d descriptors %s after the streams closed, baseline %d: leaked", afterClose.FDs, released, before.FDs)
	}
	for name, f := range map[string]processFigures{"before": before, "during": during, "after": afterClose} {
		if f.HeapAlloc > abuseMaxHeap {
			t.Errorf("PID 1's heap %s the abuse: %d bytes, more than %d", name, f.HeapAlloc, abuseMaxHeap)
		}
	}
}

// oversizedApplies sends 4 MiB configs to the maintenance port: each must be refused
// (over config.MaxSize, or over the per-peer apply budget), and the node must still
// answer. The connection does not check the node's certificate: it carries no secret.
func oversizedApplies(t *testing.T, node string) {
	t.Helper()
	conn, err := grpc.NewClient(node, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13})))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := machine.NewMachineServiceClient(conn)
	big := bytes.Repeat([]byte("# abuse\n"), abuseApplySize/8)
	for i := range abuseApplies {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		_, err := client.ApplyConfiguration(ctx, &machine.ApplyConfigurationRequest{Data: big})
		cancel()
		if status.Code(err) != codes.ResourceExhausted {
			t.Errorf("oversized apply %d to the maintenance port: %v, want ResourceExhausted", i+1, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := client.Version(ctx, &machine.VersionRequest{}); err != nil {
		t.Errorf("maintenance node not answering after the oversized applies: %v", err)
	}
}

// roleConn dials apid with a fresh client certificate for cn in role, issued by the
// node's OS CA, as reflectionForAdminsOnly does.
func roleConn(t *testing.T, node string, cp *config.Config, cn, role string) *grpc.ClientConn {
	t.Helper()
	crt, key, err := config.IssueClientCert(cp.Machine.CA, cn, []string{role}, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(crt, key)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM([]byte(cp.Machine.CA.Crt))
	conn, err := grpc.NewClient(node, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{
		RootCAs: roots, ServerName: "127.0.0.1", Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// followUntilRefused opens Dmesg, Logs and Events follow streams in turn, for several
// readers over several connections each, until every reader is refused with
// ResourceExhausted; it returns how many are open. The streams live until ctx ends.
func followUntilRefused(t *testing.T, ctx context.Context, node string, cp *config.Config) int {
	t.Helper()
	opened := 0
	for r := range abuseReaders {
		cn := fmt.Sprintf("abuse-reader-%d", r)
		var clients []machine.MachineServiceClient
		for range abuseConnections {
			clients = append(clients, machine.NewMachineServiceClient(roleConn(t, node, cp, cn, config.RoleReader)))
		}
		for i := 0; ; i++ {
			if i > apid.MaxStreamsPerCaller {
				t.Fatalf("%s opened %d streams, more than apid.MaxStreamsPerCaller (%d)", cn, i, apid.MaxStreamsPerCaller)
			}
			err := openFollow(ctx, clients[i%len(clients)], i)
			if status.Code(err) == codes.ResourceExhausted {
				t.Logf("%s refused after %d streams: %v", cn, i, err)
				break
			}
			if err != nil {
				t.Fatalf("%s stream %d: %v", cn, i+1, err)
			}
			opened++
		}
	}
	return opened
}

// openFollow opens the i-th stream (Dmesg, Logs, Events in turn) and waits for its
// first message, which tells a served stream from a refused one.
func openFollow(ctx context.Context, client machine.MachineServiceClient, i int) error {
	first, cancel := context.WithTimeout(context.Background(), abuseStreamWait)
	defer cancel()
	recv := make(chan error, 1)
	go func() {
		var err error
		switch i % 3 {
		case 0:
			var s grpc.ServerStreamingClient[machine.LogLine]
			if s, err = client.Dmesg(ctx, &machine.DmesgRequest{Follow: true, TailLines: 1}); err == nil {
				_, err = s.Recv()
			}
		case 1:
			var s grpc.ServerStreamingClient[machine.LogLine]
			if s, err = client.Logs(ctx, &machine.LogsRequest{Service: "machined", Follow: true, TailLines: 1}); err == nil {
				_, err = s.Recv()
			}
		default:
			var s grpc.ServerStreamingClient[machine.Event]
			if s, err = client.Events(ctx, &machine.EventsRequest{Follow: true, TailEvents: 1}); err == nil {
				_, err = s.Recv()
			}
		}
		recv <- err
	}()
	select {
	case err := <-recv:
		return err
	case <-first.Done():
		return fmt.Errorf("no first message within %s", abuseStreamWait)
	}
}

// readProcessFigures reads runtime/ProcessStats once machined has republished it since
// version after (0: any).
func readProcessFigures(t *testing.T, ctx context.Context, client machine.MachineServiceClient, after uint64) processFigures {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		callCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
		res, err := client.ResourceGet(callCtx, &machine.ResourceGetRequest{Namespace: resources.NamespaceRuntime,
			Type: resources.TypeProcessStats, Id: resources.ProcessStatsID})
		cancel()
		if err != nil {
			t.Fatalf("read %s: %v", resources.TypeProcessStats, err)
		}
		if v := res.GetMetadata().GetVersion(); v > after {
			var spec resources.ProcessStatsSpec
			if err := json.Unmarshal(res.GetSpecJson(), &spec); err != nil {
				t.Fatalf("decode %s: %v", resources.TypeProcessStats, err)
			}
			return processFigures{Version: v, FDs: spec.FDs, HeapAlloc: spec.HeapAlloc, HeapSys: spec.HeapSys}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not republished in 30 s (still version %d)", resources.TypeProcessStats, after)
		}
		time.Sleep(time.Second)
	}
}

// writeAbuseFigures writes the run's figures to _out/qemu-logs/abuse.json, for
// docs/benchmarks.md.
func writeAbuseFigures(t *testing.T, img image, figures map[string]any) {
	t.Helper()
	data, err := json.MarshalIndent(figures, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(img.out, "qemu-logs", "abuse.json")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("figures in %s:\n%s", path, strings.TrimSpace(string(data)))
}
