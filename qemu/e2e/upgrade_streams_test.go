package e2e

import (
	"context"
	"debug/pe"
	"maps"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kiln-os/kiln/api/machine"
	"github.com/kiln-os/kiln/config"
)

// upgradeStreamAbuse is issue 13's bad inputs that kilnctl would not send, on a running
// node through the API with an admin certificate: a byte flipped in the signature, a
// 300 MiB stream, a stream cut half-way, and an upgrade while another is in progress.
// Each is refused (or dropped) with the ESP byte-identical, and the node takes the next
// upgrade afterwards.
func upgradeStreamAbuse(t *testing.T, c ctl, disk, work string, baseUKI []byte) {
	cp, err := config.Load(filepath.Join(work, "controlplane.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	api := machine.NewMachineServiceClient(roleConn(t, c.node, cp, "upgrade-abuse", config.RoleAdmin))
	unchanged := func(name string, step func()) {
		t.Helper()
		before := espHashes(t, disk, work)
		step()
		if after := espHashes(t, disk, work); !maps.Equal(before, after) {
			t.Errorf("%s: the ESP changed: %v → %v", name, before, after)
		}
	}

	unchanged("signature byte flipped", func() {
		_, err := sendUpgrade(t, api, flipSignatureByte(t, baseUKI), 0)
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "signature") {
			t.Errorf("a flipped signature byte: %v, want InvalidArgument naming the signature", err)
		}
	})
	unchanged("300 MiB stream", func() {
		_, err := sendUpgrade(t, api, nil, 300)
		if err == nil || !strings.Contains(err.Error(), "size") {
			t.Errorf("a 300 MiB stream: %v, want a refusal naming the size", err)
		}
	})
	unchanged("stream cut half-way", func() {
		ctx, cancel := context.WithCancel(context.Background())
		stream, err := api.Upgrade(ctx)
		if err != nil {
			t.Fatal(err)
		}
		sendOptions(t, stream)
		sendChunks(stream, baseUKI[:len(baseUKI)/2])
		cancel()
		// The node must let go of the upgrade: the next one is judged on its image, not
		// refused as busy.
		deadline := time.Now().Add(time.Minute)
		for {
			_, err := sendUpgrade(t, api, []byte("not a PE"), 0)
			if status.Code(err) == codes.InvalidArgument && !strings.Contains(err.Error(), "in progress") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("after a cut stream the node still refuses the next upgrade: %v", err)
			}
			time.Sleep(time.Second)
		}
	})
	unchanged("upgrade while another is in progress", func() {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		first, err := api.Upgrade(ctx)
		if err != nil {
			t.Fatal(err)
		}
		sendOptions(t, first)
		sendChunks(first, baseUKI[:1<<20])
		time.Sleep(2 * time.Second) // the node has the first upgrade's lock
		_, err = sendUpgrade(t, api, []byte("not a PE"), 0)
		if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "in progress") {
			t.Errorf("a second upgrade during the first: %v, want FailedPrecondition saying one is in progress", err)
		}
	})
}

// sendUpgrade streams image (or, with zeroMiB > 0, that many MiB of zeros) and returns
// the node's answer.
func sendUpgrade(t *testing.T, api machine.MachineServiceClient, image []byte, zeroMiB int) (*machine.UpgradeResponse, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	stream, err := api.Upgrade(ctx)
	if err != nil {
		return nil, err
	}
	sendOptions(t, stream)
	if zeroMiB > 0 {
		chunk := make([]byte, 1<<20)
		for i := 0; i < zeroMiB; i++ {
			if err := stream.Send(&machine.UpgradeRequest{Payload: &machine.UpgradeRequest_Chunk{Chunk: chunk}}); err != nil {
				break // the node stopped reading: its answer says why
			}
		}
	} else {
		sendChunks(stream, image)
	}
	return stream.CloseAndRecv()
}

func sendOptions(t *testing.T, stream machine.MachineService_UpgradeClient) {
	t.Helper()
	if err := stream.Send(&machine.UpgradeRequest{Payload: &machine.UpgradeRequest_Options{Options: &machine.UpgradeOptions{}}}); err != nil {
		t.Fatalf("send options: %v", err)
	}
}

// sendChunks sends data in 1 MiB chunks; a send the node cut short ends it (CloseAndRecv
// then returns the node's error).
func sendChunks(stream machine.MachineService_UpgradeClient, data []byte) {
	for len(data) > 0 {
		n := min(len(data), 1<<20)
		if err := stream.Send(&machine.UpgradeRequest{Payload: &machine.UpgradeRequest_Chunk{Chunk: data[:n]}}); err != nil {
			return // io.EOF: the node answered early; CloseAndRecv returns its answer
		}
		data = data[n:]
	}
}

// flipSignatureByte flips one byte inside the UKI's Authenticode signature (the
// certificate table that data directory 4 points at).
func flipSignatureByte(t *testing.T, uki []byte) []byte {
	t.Helper()
	f, err := pe.NewFile(strings.NewReader(string(uki)))
	if err != nil {
		t.Fatal(err)
	}
	oh, ok := f.OptionalHeader.(*pe.OptionalHeader64)
	if !ok || len(oh.DataDirectory) <= pe.IMAGE_DIRECTORY_ENTRY_SECURITY {
		t.Fatal("the UKI has no PE32+ security directory")
	}
	sec := oh.DataDirectory[pe.IMAGE_DIRECTORY_ENTRY_SECURITY]
	if sec.Size < 200 || int(sec.VirtualAddress)+int(sec.Size) > len(uki) {
		t.Fatalf("security directory %+v does not fit the UKI of %d bytes", sec, len(uki))
	}
	out := append([]byte(nil), uki...)
	out[int(sec.VirtualAddress)+int(sec.Size)-40] ^= 0x01 // inside the signature value, near its end
	return out
}
