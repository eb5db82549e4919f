package machineapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kiln-os/kiln/api/machine"
	"github.com/kiln-os/kiln/initd/events"
	"github.com/kiln-os/kiln/initd/eventsink"
	"github.com/kiln-os/kiln/initd/resources"
	"github.com/kiln-os/kiln/initd/upgrade"
	"github.com/kiln-os/kiln/internal/ukitest"
)

// upgradeNode is a fake machine for Upgrade and Rollback: an ESP with kiln-0.1.0.efi
// (previous good) and kiln-0.2.0.efi (booted, running 0.2.0), a temporary directory
// standing for EPHEMERAL, and what machined would do recorded.
type upgradeNode struct {
	*ukitest.Node
	tmp    string
	sink   *eventsink.Sink
	booted string

	mu      sync.Mutex
	reboots []string
	boot    resources.BootStatusSpec
}

func newUpgradeNode(t *testing.T, ukis map[string]string, configure ...func(*Upgrades)) (*upgradeNode, machine.MachineServiceClient) {
	t.Helper()
	if ukis == nil {
		ukis = map[string]string{"kiln-0.1.0.efi": "0.1.0", "kiln-0.2.0.efi": "0.2.0"}
	}
	n := &upgradeNode{Node: ukitest.NewNode(t, ukis), tmp: filepath.Join(t.TempDir(), "var", "upgrade"),
		sink: eventsink.New(io.Discard, nil), booted: "kiln-0.2.0.efi"}
	u := &Upgrades{
		TempDir: n.tmp,
		OpenESP: func() (upgrade.Env, func(), error) {
			return upgrade.Env{EfivarsDir: n.Efivars, ESPDir: n.ESP, Booted: n.booted, RunningVersion: "0.2.0",
				RunningPCRKey: ukitest.PCRKeyA, OSID: "kiln",
				FreeSpace: func(string) (uint64, uint64, error) { return 64 << 20, 4096, nil }}, func() {}, nil
		},
		Record: func(change func(*resources.BootStatusSpec)) {
			n.mu.Lock()
			defer n.mu.Unlock()
			change(&n.boot)
		},
		Reboot: func(why string) {
			n.mu.Lock()
			defer n.mu.Unlock()
			n.reboots = append(n.reboots, why)
		},
	}
	for _, c := range configure {
		c(u)
	}
	return n, start(t, &Server{Upgrades: u, EventSink: n.sink})
}

func (n *upgradeNode) rebootCount() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.reboots)
}

func (n *upgradeNode) lastAttempt() *resources.UpgradeAttempt {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.boot.LastUpgrade
}

// snapshot is every file of the ESP with its SHA-256.
func (n *upgradeNode) snapshot(t *testing.T) map[string][32]byte {
	t.Helper()
	out := map[string][32]byte{}
	err := filepath.WalkDir(n.ESP, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		out[strings.TrimPrefix(path, n.ESP)] = sha256.Sum256(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// tempFiles lists what is left in the receive directory.
func (n *upgradeNode) tempFiles(t *testing.T) []string {
	t.Helper()
	des, err := os.ReadDir(n.tmp)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	return names
}

// sendUpgrade streams image in chunks of chunk bytes after opts and returns the answer.
func sendUpgrade(ctx context.Context, c machine.MachineServiceClient, opts *machine.UpgradeOptions, image []byte, chunk int) (*machine.UpgradeResponse, error) {
	stream, err := c.Upgrade(ctx)
	if err != nil {
		return nil, err
	}
	if err := stream.Send(&machine.UpgradeRequest{Payload: &machine.UpgradeRequest_Options{Options: opts}}); err != nil {
		return stream.CloseAndRecv()
	}
	for off := 0; off < len(image); off += chunk {
		end := min(off+chunk, len(image))
		if err := stream.Send(&machine.UpgradeRequest{Payload: &machine.UpgradeRequest_Chunk{Chunk: image[off:end]}}); err != nil {
			break // the server has answered; CloseAndRecv returns it
		}
	}
	return stream.CloseAndRecv()
}

func TestUpgradeInstallsAndRequestsReboot(t *testing.T) {
	n, c := newUpgradeNode(t, nil)
	image := ukitest.Kiln("0.3.0").Build(t)
	resp, err := sendUpgrade(context.Background(), c, &machine.UpgradeOptions{}, image, 1000)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(image)
	if resp.Entry != "kiln-0.3.0+3.efi" || resp.Version != "0.3.0" || resp.VerifiedBy != string(upgrade.RootFirmwareDB) ||
		!resp.Reboot || resp.Sha256 != hex.EncodeToString(sum[:]) || resp.Standby != "kiln-0.2.0.efi" || len(resp.Warnings) != 0 {
		t.Errorf("response = %+v", resp)
	}
	got, err := os.ReadFile(filepath.Join(n.Linux, "kiln-0.3.0+3.efi"))
	if err != nil || !bytes.Equal(got, image) {
		t.Errorf("installed file: %d bytes, %v; want the %d bytes sent", len(got), err, len(image))
	}
	if n.rebootCount() != 1 {
		t.Errorf("reboots requested: %d, want 1", n.rebootCount())
	}
	if left := n.tempFiles(t); len(left) != 0 {
		t.Errorf("left in the receive directory: %q", left)
	}
	if a := n.lastAttempt(); a == nil || a.Result != resources.UpgradeInstalled || a.Version != "0.3.0" || a.Time.IsZero() {
		t.Errorf("BootStatus.LastUpgrade = %+v", a)
	}
	if n.boot.Standby != "kiln-0.2.0.efi" || n.boot.StandbyVersion != "0.2.0" {
		t.Errorf("BootStatus standby %q %q, want the running UKI", n.boot.Standby, n.boot.StandbyVersion)
	}
	e := lastEvent(n.sink, "upgrade")
	if e == nil || e.State != resources.UpgradeInstalled || e.Fields["entry"] != "kiln-0.3.0+3.efi" {
		t.Fatalf("upgrade event = %+v", e)
	}
	for _, f := range []string{"receiveSeconds", "verifySeconds", "writeSeconds"} {
		if d, err := strconv.ParseFloat(e.Fields[f], 64); err != nil || d < 0 {
			t.Errorf("upgrade event %s = %q, want a duration in seconds", f, e.Fields[f])
		}
	}
}

func TestUpgradeStagedDoesNotReboot(t *testing.T) {
	n, c := newUpgradeNode(t, nil)
	image := ukitest.Kiln("0.3.0").Build(t)
	resp, err := sendUpgrade(context.Background(), c, &machine.UpgradeOptions{Stage: true, Sha256: hex.EncodeToString(sha(image))}, image, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Reboot || n.rebootCount() != 0 {
		t.Errorf("staged upgrade: response reboot=%v, %d reboots requested", resp.Reboot, n.rebootCount())
	}
	if a := n.lastAttempt(); a == nil || a.Result != resources.UpgradeStaged {
		t.Errorf("BootStatus.LastUpgrade = %+v", a)
	}
}

func sha(b []byte) []byte { s := sha256.Sum256(b); return s[:] }

func lastEvent(sink *eventsink.Sink, name string) *events.Event {
	h := sink.History()
	for i := len(h) - 1; i >= 0; i-- {
		if h[i].Name == name {
			return &h[i]
		}
	}
	return nil
}

// waitTempFile waits until the handler has created its receive file.
func waitTempFile(t *testing.T, n *upgradeNode) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if len(n.tempFiles(t)) > 0 {
			return
		}
	}
	t.Fatal("the handler never created its receive file")
}

// waitUnlocked waits until the handler has returned and released upgrade.Lock.
func waitUnlocked(t *testing.T) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if release, err := upgrade.Lock(); err == nil {
			release()
			return
		}
	}
	t.Fatal("the upgrade lock was never released")
}

func TestUpgradeCutHalfWayLeavesNothing(t *testing.T) {
	n, c := newUpgradeNode(t, nil)
	before := n.snapshot(t)
	image := ukitest.Kiln("0.3.0").Build(t)
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := c.Upgrade(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&machine.UpgradeRequest{Payload: &machine.UpgradeRequest_Options{Options: &machine.UpgradeOptions{}}}); err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&machine.UpgradeRequest{Payload: &machine.UpgradeRequest_Chunk{Chunk: image[:len(image)/2]}}); err != nil {
		t.Fatal(err)
	}
	waitTempFile(t, n) // the half image is on "EPHEMERAL" now
	cancel()           // the client goes away
	waitUnlocked(t)
	if left := n.tempFiles(t); len(left) != 0 {
		t.Errorf("a cut stream left %q in the receive directory", left)
	}
	if after := n.snapshot(t); !maps.Equal(before, after) {
		t.Errorf("a cut stream changed the ESP: %v -> %v", before, after)
	}
	if n.rebootCount() != 0 {
		t.Error("a cut stream requested a reboot")
	}
}

func TestConcurrentUpgradeIsRefused(t *testing.T) {
	n, c := newUpgradeNode(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first, err := c.Upgrade(ctx)
	if err != nil {
		t.Fatal(err)
	}
	first.Send(&machine.UpgradeRequest{Payload: &machine.UpgradeRequest_Options{Options: &machine.UpgradeOptions{}}})
	first.Send(&machine.UpgradeRequest{Payload: &machine.UpgradeRequest_Chunk{Chunk: []byte("MZ")}})
	waitTempFile(t, n)
	_, err = sendUpgrade(context.Background(), c, &machine.UpgradeOptions{}, ukitest.Kiln("0.3.0").Build(t), 1<<20)
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "in progress") || !strings.Contains(err.Error(), "busy") {
		t.Errorf("second upgrade: %v, want FailedPrecondition naming busy and in progress", err)
	}
	if _, err := c.Rollback(context.Background(), &machine.RollbackRequest{}); status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "in progress") {
		t.Errorf("rollback during an upgrade: %v, want FailedPrecondition naming in progress", err)
	}
	cancel()
	waitUnlocked(t)
}

func TestUpgradeRefusalsNameTheCheck(t *testing.T) {
	good := func(t *testing.T) []byte { return ukitest.Kiln("0.3.0").Build(t) }
	cases := []struct {
		name  string
		image func(t *testing.T) []byte
		opts  *machine.UpgradeOptions
		code  codes.Code
		check string
	}{
		{name: "signed by a key not in db", code: codes.InvalidArgument, check: "signature",
			image: func(t *testing.T) []byte { u := ukitest.Kiln("0.3.0"); u.Key = "other"; return u.Build(t) }},
		{name: "one byte flipped in .cmdline", code: codes.InvalidArgument, check: "signature",
			image: func(t *testing.T) []byte { return ukitest.FlipInSection(t, good(t), ".cmdline") }},
		{name: "not a PE file", code: codes.InvalidArgument, check: "pe",
			image: func(*testing.T) []byte { return []byte("#!/bin/sh\n") }},
		{name: "command line fails KSPP", code: codes.InvalidArgument, check: "cmdline",
			image: func(t *testing.T) []byte {
				u := ukitest.Kiln("0.3.0")
				u.Cmdline = strings.Replace(u.Cmdline, "slab_nomerge", "", 1)
				return u.Build(t)
			}},
		{name: "older version", code: codes.FailedPrecondition, check: "version",
			image: func(t *testing.T) []byte { return ukitest.Kiln("0.1.5").Build(t) }},
		{name: "different .pcrpkey", code: codes.FailedPrecondition, check: "pcrpkey",
			image: func(t *testing.T) []byte { u := ukitest.Kiln("0.3.0"); u.PCRKey = ukitest.PCRKeyB; return u.Build(t) }},
		{name: "wrong SHA-256", code: codes.InvalidArgument, check: "sha256", image: good,
			opts: &machine.UpgradeOptions{Sha256: strings.Repeat("ab", 32)}},
		{name: "URL without SHA-256", code: codes.InvalidArgument, check: "sha256", image: good,
			opts: &machine.UpgradeOptions{Url: "https://example.invalid/kiln.efi"}},
		{name: "plain http URL", code: codes.InvalidArgument, check: "https", image: good,
			opts: &machine.UpgradeOptions{Url: "http://example.invalid/kiln.efi", Sha256: strings.Repeat("ab", 32)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n, c := newUpgradeNode(t, nil)
			before := n.snapshot(t)
			opts := tc.opts
			if opts == nil {
				opts = &machine.UpgradeOptions{}
			}
			_, err := sendUpgrade(context.Background(), c, opts, tc.image(t), 4096)
			if status.Code(err) != tc.code || !strings.Contains(status.Convert(err).Message(), tc.check) {
				t.Errorf("Upgrade: %v, want %v naming %q", err, tc.code, tc.check)
			}
			if after := n.snapshot(t); !maps.Equal(before, after) {
				t.Errorf("the ESP changed")
			}
			if left := n.tempFiles(t); len(left) != 0 {
				t.Errorf("left in the receive directory: %q", left)
			}
			if n.rebootCount() != 0 {
				t.Error("a refused upgrade requested a reboot")
			}
			if a := n.lastAttempt(); a == nil || a.Result != resources.UpgradeRefused || !strings.Contains(a.Error, tc.check) {
				t.Errorf("BootStatus.LastUpgrade = %+v, want refused naming %q", a, tc.check)
			}
		})
	}
}

func TestUpgradeFromURL(t *testing.T) {
	image := ukitest.Kiln("0.3.0").Build(t)
	fetched := make(chan string, 1)
	_, c := newUpgradeNode(t, nil, func(u *Upgrades) {
		u.Fetch = func(_ context.Context, url string) (io.ReadCloser, error) {
			fetched <- url
			return io.NopCloser(bytes.NewReader(image)), nil
		}
	})
	resp, err := sendUpgrade(context.Background(), c, &machine.UpgradeOptions{Url: "https://images.example/kiln-0.3.0.efi", Sha256: hex.EncodeToString(sha(image))}, nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	if url := <-fetched; url != "https://images.example/kiln-0.3.0.efi" || resp.Entry != "kiln-0.3.0+3.efi" {
		t.Errorf("fetched %q, installed %q", url, resp.Entry)
	}
}

func TestLimitedWriterRefusesPastTheLimit(t *testing.T) {
	var buf bytes.Buffer
	w := &limitedWriter{w: &buf, left: 10}
	if _, err := w.Write(make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	_, err := w.Write([]byte{1})
	var refusal *upgrade.Error
	if !errors.As(err, &refusal) || refusal.Check != upgrade.CheckSize || status.Code(upgradeStatus(err)) != codes.InvalidArgument {
		t.Errorf("write past the limit: %v, want a size refusal (InvalidArgument)", err)
	}
	if buf.Len() != 10 {
		t.Errorf("wrote %d bytes, want 10", buf.Len())
	}
}

func TestRollback(t *testing.T) {
	n, c := newUpgradeNode(t, nil)
	resp, err := c.Rollback(context.Background(), &machine.RollbackRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if resp.MarkedBad != "kiln-0.2.0+0.efi" || resp.Next != "kiln-0.1.0.efi" || resp.NextVersion != "0.1.0" {
		t.Errorf("response = %+v", resp)
	}
	if _, err := os.Stat(filepath.Join(n.Linux, "kiln-0.2.0+0.efi")); err != nil {
		t.Errorf("booted UKI not marked bad: %v", err)
	}
	if n.rebootCount() != 1 {
		t.Errorf("reboots requested: %d, want 1", n.rebootCount())
	}
	if a := n.lastAttempt(); a == nil || a.Result != resources.UpgradeRolledBack || a.Version != "0.1.0" {
		t.Errorf("BootStatus.LastUpgrade = %+v", a)
	}
	if e := lastEvent(n.sink, "rollback"); e == nil || e.Fields["next"] != "kiln-0.1.0.efi" {
		t.Errorf("rollback event = %+v", e)
	}
}

func TestRollbackWithoutPreviousGoodIsRefused(t *testing.T) {
	n, c := newUpgradeNode(t, map[string]string{"kiln-0.2.0.efi": "0.2.0", "kiln-0.3.0+0-3.efi": "0.3.0"})
	before := n.snapshot(t)
	_, err := c.Rollback(context.Background(), &machine.RollbackRequest{})
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "rollback") || !strings.Contains(err.Error(), "no previous good") {
		t.Errorf("Rollback: %v, want FailedPrecondition naming the rollback check", err)
	}
	if after := n.snapshot(t); !maps.Equal(before, after) {
		t.Error("a refused rollback changed the ESP")
	}
	if n.rebootCount() != 0 {
		t.Error("a refused rollback requested a reboot")
	}
}
