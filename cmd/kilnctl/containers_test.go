package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/kiln-os/kiln/api/machine"
)

func (f *fakeNode) Stats(context.Context, *machine.StatsRequest) (*machine.StatsResponse, error) {
	return &machine.StatsResponse{Stats: []*machine.CgroupStats{
		{Kind: "machined", Name: "init", MemoryBytes: 30 << 20, CpuUsageUsec: 1_500_000, Pids: 12},
		{Kind: "container", Name: "hello", MemoryBytes: 3 << 20, MemoryPeakBytes: 4 << 20, MemoryLimitBytes: 64 << 20, Pids: 5},
	}}, nil
}

func (f *fakeNode) ImageList(context.Context, *machine.ImageListRequest) (*machine.ImageListResponse, error) {
	return &machine.ImageListResponse{Images: []*machine.Image{{Name: "kiln.test/hello:1", Digest: "sha256:" + strings.Repeat("ab", 32), Size: 3 << 20, Platform: "linux/amd64", Created: timestamppb.New(fakeTime)}}}, nil
}

func (f *fakeNode) ImageImport(stream grpc.ClientStreamingServer[machine.ImageImportRequest, machine.ImageImportResponse]) error {
	var got []byte
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		f.mu.Lock()
		f.chunks = append(f.chunks, msg.GetChunk())
		f.mu.Unlock()
		got = append(got, msg.GetChunk()...)
	}
	return stream.SendAndClose(&machine.ImageImportResponse{Images: []*machine.Image{{Name: "kiln.test/hello:1", Digest: "sha256:cd", Size: int64(len(got)), Platform: "linux/amd64"}}})
}

func TestContainerTables(t *testing.T) {
	_, kc := configuredNode(t, "os:reader")
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"stats"}, []string{"KIND", "machined", "30.0 MiB", "1.50s", "container", "hello", "4.0 MiB", "64.0 MiB"}},
		{[]string{"containers"}, []string{"NAME", "hello", "kiln.test/hello:1", "running", "812", "2026-01-02T03:04:05Z"}},
		{[]string{"image", "list"}, []string{"DIGEST", "kiln.test/hello:1", "sha256:abababababab", "linux/amd64"}},
	} {
		r := runCtl(t, append([]string{"--kiln-config", kc}, c.args...)...)
		if r.err != nil {
			t.Errorf("%v: %v", c.args, r.err)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(r.stdout, w) {
				t.Errorf("%v: no %q in\n%s", c.args, w, r.stdout)
			}
		}
	}
}

func TestImageImportStreamsTheFileInChunks(t *testing.T) {
	f, kc := configuredNode(t, "os:operator")
	archive := filepath.Join(t.TempDir(), "hello.tar")
	data := bytes.Repeat([]byte("oci!"), (chunkSize+100)/4) // two chunks
	if err := os.WriteFile(archive, data, 0o644); err != nil {
		t.Fatal(err)
	}
	r := runCtl(t, "--kiln-config", kc, "image", "import", archive)
	if r.err != nil {
		t.Fatal(r.err)
	}
	if len(f.chunks) != 2 || len(f.chunks[0]) != chunkSize || !bytes.Equal(bytes.Join(f.chunks, nil), data) {
		t.Errorf("chunks: %d, want the file in 2 chunks of at most %d bytes", len(f.chunks), chunkSize)
	}
	if !strings.Contains(r.stdout, "kiln.test/hello:1") {
		t.Errorf("import output:\n%s", r.stdout)
	}
	if r := runCtl(t, "--kiln-config", kc, "image", "import", filepath.Join(t.TempDir(), "none.tar")); r.err == nil || !strings.Contains(r.err.Error(), "none.tar") {
		t.Errorf("missing file: %v", r.err)
	}
	if r := runCtl(t, "--kiln-config", kc, "image", "pull", "x"); r.err == nil || !strings.Contains(r.err.Error(), "want list or import") {
		t.Errorf("unknown subcommand: %v", r.err)
	}
}
