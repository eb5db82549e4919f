package machineapi

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kiln-os/kiln/api/machine"
	"github.com/kiln-os/kiln/initd/containers"
	"github.com/kiln-os/kiln/initd/logbuf"
)

// fakeRuntime stores what it imports; an archive that does not start with "OCI" is refused
// as invalid.
type fakeRuntime struct {
	containers.Runtime
	mu     sync.Mutex
	images []containers.Image
	got    []byte
}

func (f *fakeRuntime) Import(_ context.Context, r io.Reader, limit int64) ([]containers.Image, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got = data
	if !bytes.HasPrefix(data, []byte("OCI")) {
		return nil, fmt.Errorf("%w: oci-layout: missing", containers.ErrInvalidArchive)
	}
	im := containers.Image{Name: "kiln.test/hello:1", Digest: "sha256:ab", Size: int64(len(data)), Platform: "linux/amd64", Created: time.Unix(1e9, 0)}
	f.images = append(f.images, im)
	return []containers.Image{im}, nil
}

func (f *fakeRuntime) Images(context.Context) ([]containers.Image, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]containers.Image(nil), f.images...), nil
}

func importChunks(t *testing.T, c machine.MachineServiceClient, data []byte) (*machine.ImageImportResponse, error) {
	t.Helper()
	stream, err := c.ImageImport(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for len(data) > 0 {
		n := min(len(data), 1<<20)
		if err := stream.Send(&machine.ImageImportRequest{Chunk: data[:n]}); err != nil {
			break // the server answered early; CloseAndRecv has its answer
		}
		data = data[n:]
	}
	return stream.CloseAndRecv()
}

func TestImageImportAndList(t *testing.T) {
	rt := &fakeRuntime{}
	imported := 0
	c := start(t, &Server{Containers: &Containers{Runtime: func() containers.Runtime { return rt }, Imported: func() { imported++ }}})
	archive := append([]byte("OCI"), bytes.Repeat([]byte{7}, 3<<20)...) // several chunks
	resp, err := importChunks(t, c, archive)
	if err != nil || len(resp.Images) != 1 || resp.Images[0].Name != "kiln.test/hello:1" {
		t.Fatalf("ImageImport = %v, %v", resp, err)
	}
	if !bytes.Equal(rt.got, archive) {
		t.Errorf("runtime got %d bytes, want the %d sent", len(rt.got), len(archive))
	}
	if imported != 1 {
		t.Errorf("Imported called %d times, want 1", imported)
	}
	list, err := c.ImageList(context.Background(), &machine.ImageListRequest{})
	if err != nil || len(list.Images) != 1 || list.Images[0].Platform != "linux/amd64" || list.Images[0].Created.AsTime().Unix() != 1e9 {
		t.Errorf("ImageList = %v, %v", list, err)
	}

	_, err = importChunks(t, c, []byte("not an archive"))
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "oci-layout") {
		t.Errorf("bad archive: %v, want InvalidArgument naming oci-layout", err)
	}
	if imported != 1 {
		t.Errorf("a refused import woke the containers")
	}
}

func TestImagesBeforeContainerd(t *testing.T) {
	c := start(t, &Server{Containers: &Containers{Runtime: func() containers.Runtime { return nil }}})
	if _, err := c.ImageList(context.Background(), &machine.ImageListRequest{}); status.Code(err) != codes.Unavailable {
		t.Errorf("ImageList without containerd = %v, want Unavailable", err)
	}
	if _, err := importChunks(t, c, []byte("OCI")); status.Code(err) != codes.Unavailable {
		t.Errorf("ImageImport without containerd = %v, want Unavailable", err)
	}
}

func TestLogsOfAContainer(t *testing.T) {
	set := logbuf.NewSet(nil)
	set.Get(containers.LogSource("hello")).Write([]byte("tick 1\n"))
	c := start(t, &Server{LogSet: set})
	stream, err := c.Logs(context.Background(), &machine.LogsRequest{Service: "hello", TailLines: -1})
	if err != nil {
		t.Fatal(err)
	}
	if l, err := stream.Recv(); err != nil || l.Line != "tick 1" {
		t.Errorf("container log: %v, %v", l, err)
	}
}
