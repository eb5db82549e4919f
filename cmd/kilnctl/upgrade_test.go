package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/kiln-os/kiln/api/machine"
)

// Upgrade records the options and the chunks, then answers with f.upgradeErr or a
// canned response; the node then "reboots": f.down calls fail before it is back.
func (f *fakeNode) Upgrade(stream grpc.ClientStreamingServer[machine.UpgradeRequest, machine.UpgradeResponse]) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for {
		msg, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if o := msg.GetOptions(); o != nil {
			f.upgradeOpts = proto.Clone(o).(*machine.UpgradeOptions)
		} else {
			f.chunks = append(f.chunks, bytes.Clone(msg.GetChunk()))
		}
	}
	if f.upgradeErr != nil {
		return f.upgradeErr
	}
	f.down = f.downAfter
	return stream.SendAndClose(&machine.UpgradeResponse{Entry: "kiln-0.1.1+3.efi", Version: "0.1.1", VerifiedBy: "firmware-db",
		Reboot: !f.upgradeOpts.GetStage(), Sha256: strings.Repeat("ab", 32), Standby: "kiln-0.1.0.efi"})
}

func (f *fakeNode) Rollback(context.Context, *machine.RollbackRequest) (*machine.RollbackResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.upgradeErr != nil {
		return nil, f.upgradeErr
	}
	f.down = f.downAfter
	return &machine.RollbackResponse{MarkedBad: "kiln-0.1.1+0.efi", Next: "kiln-0.1.0.efi", NextVersion: "0.1.0"}, nil
}

// ResourceGet answers MachineStatus and BootStatus, or Unavailable while the node is down.
func (f *fakeNode) ResourceGet(_ context.Context, req *machine.ResourceGetRequest) (*machine.Resource, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down > 0 {
		f.down--
		return nil, status.Error(codes.Unavailable, "rebooting")
	}
	if f.resources != nil {
		spec, ok := f.resources[req.GetType()+"/"+req.GetId()]
		if !ok {
			return nil, status.Errorf(codes.NotFound, "no %s/%s", req.GetType(), req.GetId())
		}
		b, _ := json.Marshal(spec)
		return &machine.Resource{Metadata: &machine.ResourceMetadata{Namespace: req.GetNamespace(), Type: req.GetType(), Id: req.GetId(),
			Updated: timestamppb.New(fakeTime)}, SpecJson: b}, nil
	}
	spec := map[string]any{"ready": true, "stage": "running"}
	if req.GetType() == "BootStatus" {
		spec = f.bootStatus
	}
	b, _ := json.Marshal(spec)
	return &machine.Resource{Metadata: &machine.ResourceMetadata{Namespace: "runtime", Type: req.GetType(), Id: req.GetId()}, SpecJson: b}, nil
}

func imageFile(t *testing.T, size int) (string, []byte) {
	t.Helper()
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i * 7)
	}
	path := filepath.Join(t.TempDir(), "kiln-0.1.1.efi")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path, data
}

func TestUpgradeFlagsAreChecked(t *testing.T) {
	big := filepath.Join(t.TempDir(), "big.efi")
	f, _ := os.Create(big)
	f.Truncate(maxImageSize + 1) // sparse
	f.Close()
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"upgrade"}, "upgrade needs --image"},
		{[]string{"upgrade", "--image", "http://host/k.efi", "--sha256", strings.Repeat("a", 64)}, "only https"},
		{[]string{"upgrade", "--image", "https://host/k.efi"}, "needs --sha256"},
		{[]string{"upgrade", "--image", "x.efi", "--sha256", "abc"}, "64 hex digits"},
		{[]string{"upgrade", "--image", "x.efi", "--stage", "--wait"}, "nothing to wait for"},
		{[]string{"upgrade", "--image", filepath.Join(t.TempDir(), "missing.efi")}, "missing.efi"},
		{[]string{"upgrade", "--image", big}, "256 MiB"},
		{[]string{"upgrade", "--image", "x.efi", "extra"}, "0 argument(s)"},
		{[]string{"rollback", "now"}, "0 argument(s)"},
	}
	for _, c := range cases {
		r := runCtl(t, c.args...)
		if r.err == nil || !strings.Contains(r.err.Error(), c.want) {
			t.Errorf("kilnctl %q: %v, want an error naming %q", c.args, r.err, c.want)
		}
	}
}

func TestUpgradeStreamsTheFileInChunks(t *testing.T) {
	node, kc := configuredNode(t, "os:admin")
	path, data := imageFile(t, 2*chunkSize+12345)
	r := runCtl(t, "--kiln-config", kc, "upgrade", "--image", path, "--allow-downgrade", "--force-pcr-key-change")
	if r.err != nil {
		t.Fatalf("%v\n%s", r.err, r.stderr)
	}
	o := node.upgradeOpts
	if o == nil || !o.AllowDowngrade || !o.ForcePcrKeyChange || o.Stage || o.Url != "" {
		t.Errorf("options sent: %v", o)
	}
	if len(node.chunks) != 3 || len(node.chunks[0]) != chunkSize || !bytes.Equal(bytes.Join(node.chunks, nil), data) {
		t.Errorf("node received %d chunks, want the file in 3 of at most 1 MiB", len(node.chunks))
	}
	for _, want := range []string{"installed kiln-0.1.1+3.efi (version 0.1.1, signature verified against the firmware-db", "reboots into 0.1.1"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stderr, "sending [") {
		t.Errorf("a progress bar without a terminal:\n%s", r.stderr)
	}
}

func TestUpgradeFromURLSendsNoChunks(t *testing.T) {
	node, kc := configuredNode(t, "os:admin")
	sum := strings.Repeat("AB", 32)
	r := runCtl(t, "--kiln-config", kc, "upgrade", "--image", "https://images.example/kiln.efi", "--sha256", sum, "--stage")
	if r.err != nil {
		t.Fatal(r.err)
	}
	if o := node.upgradeOpts; o.GetUrl() != "https://images.example/kiln.efi" || o.GetSha256() != strings.ToLower(sum) || !o.GetStage() || len(node.chunks) != 0 {
		t.Errorf("options %v, %d chunks", o, len(node.chunks))
	}
	if !strings.Contains(r.stdout, "staged") {
		t.Errorf("output:\n%s", r.stdout)
	}
}

func TestUpgradeRefusalKeepsTheNodesWords(t *testing.T) {
	node, kc := configuredNode(t, "os:admin")
	node.upgradeErr = status.Error(codes.FailedPrecondition, "upgrade: version: older than the running version (allow the downgrade to install it): 0.0.9 < 0.1.0; nothing on the ESP changed")
	path, _ := imageFile(t, 4096)
	r := runCtl(t, "--kiln-config", kc, "upgrade", "--image", path)
	wantErr(t, r, "upgrade: version: older than the running version", "nothing on the ESP changed")
	if status.Code(r.err) != codes.FailedPrecondition {
		t.Errorf("code %v, want FailedPrecondition kept for scripts", status.Code(r.err))
	}
}

func TestUpgradeNeedsAdmin(t *testing.T) {
	_, kc := configuredNode(t, "os:operator")
	path, _ := imageFile(t, 4096)
	r := runCtl(t, "--kiln-config", kc, "upgrade", "--image", path)
	if status.Code(r.err) != codes.PermissionDenied {
		t.Errorf("operator upgrade: %v, want PermissionDenied", r.err)
	}
	r = runCtl(t, "--kiln-config", kc, "rollback")
	if status.Code(r.err) != codes.PermissionDenied {
		t.Errorf("operator rollback: %v, want PermissionDenied", r.err)
	}
}

func shortPolls(t *testing.T) {
	old := pollInterval
	pollInterval = time.Millisecond
	t.Cleanup(func() { pollInterval = old })
}

func TestUpgradeWaitReportsTheVersionItCameBackOn(t *testing.T) {
	shortPolls(t)
	node, kc := configuredNode(t, "os:admin")
	node.downAfter = 3
	node.bootStatus = map[string]any{"booted": "kiln-0.1.1.efi", "version": "0.1.1", "standby": "kiln-0.1.0.efi", "standbyVersion": "0.1.0"}
	path, _ := imageFile(t, 4096)
	r := runCtl(t, "--kiln-config", kc, "upgrade", "--image", path, "--wait", "--wait-timeout", "30s")
	if r.err != nil {
		t.Fatalf("%v\n%s", r.err, r.stderr)
	}
	for _, want := range []string{"the node is back on 0.1.1 (booted kiln-0.1.1.efi; standby kiln-0.1.0.efi 0.1.0)", "fell back: no"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
}

func TestUpgradeWaitFailsOnAFallback(t *testing.T) {
	shortPolls(t)
	node, kc := configuredNode(t, "os:admin")
	node.downAfter = 2
	node.bootStatus = map[string]any{"booted": "kiln-0.1.0.efi", "version": "0.1.0", "fellBack": true, "failedEntry": "kiln-0.1.1+0-3.efi", "failedVersion": "0.1.1"}
	path, _ := imageFile(t, 4096)
	r := runCtl(t, "--kiln-config", kc, "upgrade", "--image", path, "--wait")
	wantErr(t, r, "came back on 0.1.0, not 0.1.1")
	if !strings.Contains(r.stdout, "fell back: kiln-0.1.1+0-3.efi (version 0.1.1) did not boot") {
		t.Errorf("output:\n%s", r.stdout)
	}
}

func TestUpgradeWaitTimesOutWhenTheNodeNeverGoesDown(t *testing.T) {
	shortPolls(t)
	node, kc := configuredNode(t, "os:admin")
	node.bootStatus = map[string]any{"version": "0.1.0"}
	path, _ := imageFile(t, 4096)
	r := runCtl(t, "--kiln-config", kc, "upgrade", "--image", path, "--wait", "--wait-timeout", "200ms")
	wantErr(t, r, "did not go down within 200ms")
}

func TestRollbackWait(t *testing.T) {
	shortPolls(t)
	node, kc := configuredNode(t, "os:admin")
	node.downAfter = 1
	node.bootStatus = map[string]any{"booted": "kiln-0.1.0.efi", "version": "0.1.0"}
	r := runCtl(t, "--kiln-config", kc, "rollback", "--wait")
	if r.err != nil {
		t.Fatalf("%v\n%s", r.err, r.stderr)
	}
	for _, want := range []string{"marked the booted UKI bad (kiln-0.1.1+0.efi); the node reboots into kiln-0.1.0.efi (version 0.1.0)", "the node is back on 0.1.0"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
}

func TestRollbackRefusalKeepsTheNodesWords(t *testing.T) {
	node, kc := configuredNode(t, "os:admin")
	node.upgradeErr = status.Error(codes.FailedPrecondition, "upgrade: rollback: no previous good UKI to roll back to; nothing on the ESP changed")
	r := runCtl(t, "--kiln-config", kc, "rollback")
	wantErr(t, r, "no previous good UKI")
}
