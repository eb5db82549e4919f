package machineapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kiln-os/kiln/api/machine"
	"github.com/kiln-os/kiln/initd/k8s"
)

// fakeCluster records what Recover read; refuse makes it refuse as etcdutl would.
type fakeCluster struct {
	got    []byte
	by     string
	refuse error
}

func (f *fakeCluster) Bootstrap(context.Context, string) error { return nil }
func (f *fakeCluster) Kubeconfig(string, time.Duration) ([]byte, error) {
	return nil, nil
}
func (f *fakeCluster) EtcdMembers(context.Context) ([]k8s.Member, error) { return nil, nil }
func (f *fakeCluster) EtcdSnapshot(context.Context, io.Writer) error     { return nil }
func (f *fakeCluster) Recover(_ context.Context, r io.Reader, by string) (int64, string, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return 0, "", err
	}
	f.got, f.by = data, by
	if f.refuse != nil {
		return 0, "", f.refuse
	}
	sum := sha256.Sum256(data)
	return int64(len(data)), hex.EncodeToString(sum[:]), nil
}

func recoverChunks(c machine.MachineServiceClient, chunks ...[]byte) (*machine.EtcdRecoverResponse, error) {
	stream, err := c.EtcdRecover(context.Background())
	if err != nil {
		return nil, err
	}
	for _, chunk := range chunks {
		if err := stream.Send(&machine.EtcdRecoverRequest{Chunk: chunk}); err != nil {
			break // the server answered early; CloseAndRecv has its answer
		}
	}
	return stream.CloseAndRecv()
}

// EtcdRecover hands the whole stream, chunk after chunk, to the node's Recover and maps
// its refusals: a bad snapshot is InvalidArgument, a node bootstrapped already
// AlreadyExists, a chunk over 1 MiB InvalidArgument.
func TestEtcdRecover(t *testing.T) {
	cl := &fakeCluster{}
	c := start(t, &Server{Cluster: cl})
	want := bytes.Repeat([]byte("snapshot "), 300_000) // 2.7 MB: three chunks
	resp, err := recoverChunks(c, want[:1<<20], want[1<<20:2<<20], want[2<<20:])
	if err != nil || !bytes.Equal(cl.got, want) || resp.GetBytes() != int64(len(want)) {
		t.Fatalf("EtcdRecover = %v, %v; the node read %d of %d bytes", resp, err, len(cl.got), len(want))
	}
	if sum := sha256.Sum256(want); resp.GetSha256() != hex.EncodeToString(sum[:]) {
		t.Errorf("sha256 %s", resp.GetSha256())
	}
	for _, tc := range []struct {
		refuse error
		chunk  []byte
		code   codes.Code
	}{
		{fmt.Errorf("%w: expected sha256 ...", k8s.ErrBadSnapshot), []byte("x"), codes.InvalidArgument},
		{fmt.Errorf("%w: bootstrapped", k8s.ErrAlreadyBootstrapped), []byte("x"), codes.AlreadyExists},
		{fmt.Errorf("%w: a worker", k8s.ErrPrecondition), []byte("x"), codes.FailedPrecondition},
		{nil, make([]byte, 1<<20+1), codes.InvalidArgument},
	} {
		cl.refuse = tc.refuse
		if _, err := recoverChunks(c, tc.chunk); status.Code(err) != tc.code {
			t.Errorf("refusal %v: %v, want %s", tc.refuse, err, tc.code)
		}
	}
	if _, err := recoverChunks(start(t, &Server{})); status.Code(err) != codes.Unavailable {
		t.Errorf("before the cluster side: %v, want Unavailable", err)
	}
}
