package containers

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	contentapi "github.com/containerd/containerd/api/services/content/v1"
	diffapi "github.com/containerd/containerd/api/services/diff/v1"
	imagesapi "github.com/containerd/containerd/api/services/images/v1"
	leasesapi "github.com/containerd/containerd/api/services/leases/v1"
	snapshotsapi "github.com/containerd/containerd/api/services/snapshots/v1"
	versionapi "github.com/containerd/containerd/api/services/version/v1"
	"github.com/containerd/containerd/api/types"
	"github.com/opencontainers/go-digest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// fakeContainerd implements the few content, images, snapshots, diff, leases and version
// methods Import and the image queries call, in memory, recording every write.
type fakeContainerd struct {
	mu        sync.Mutex
	blobs     map[string][]byte
	labels    map[string]map[string]string
	images    map[string]*imagesapi.Image
	snaps     map[string]string // name or key → parent
	committed map[string]bool
	calls     []string // "write sha256:…", "prepare key parent", "apply …", "commit name", "image create name", …
	failApply bool
	badNS     bool // a call came without Namespace
}

// registrar registers more fake services on the fake's server.
type registrar = grpc.ServiceRegistrar

func newFake(t *testing.T, more ...func(registrar)) (*fakeContainerd, *Client) {
	t.Helper()
	f := &fakeContainerd{blobs: map[string][]byte{}, labels: map[string]map[string]string{},
		images: map[string]*imagesapi.Image{}, snaps: map[string]string{}, committed: map[string]bool{}}
	sock := filepath.Join(t.TempDir(), "c.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.UnaryInterceptor(f.checkNS), grpc.StreamInterceptor(f.checkNSStream))
	contentapi.RegisterContentServer(srv, fakeContent{f: f})
	imagesapi.RegisterImagesServer(srv, fakeImages{f: f})
	snapshotsapi.RegisterSnapshotsServer(srv, fakeSnapshots{f: f})
	diffapi.RegisterDiffServer(srv, fakeDiff{f: f})
	leasesapi.RegisterLeasesServer(srv, fakeLeases{f: f})
	versionapi.RegisterVersionServer(srv, fakeVersion{})
	for _, register := range more {
		register(srv)
	}
	go srv.Serve(l) //nolint:errcheck // ends with Stop
	t.Cleanup(srv.Stop)
	c, err := New(sock, WithImportDir(filepath.Join(t.TempDir(), "import")), WithRunDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return f, c
}

func (f *fakeContainerd) nsOK(ctx context.Context) {
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get(namespaceKey); len(v) != 1 || v[0] != Namespace {
		f.mu.Lock()
		f.badNS = true
		f.mu.Unlock()
	}
}

func (f *fakeContainerd) checkNS(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	f.nsOK(ctx)
	return h(ctx, req)
}

func (f *fakeContainerd) checkNSStream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	f.nsOK(ss.Context())
	return h(srv, ss)
}

func (f *fakeContainerd) record(format string, args ...any) {
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
}

// writes are the recorded calls that change the store.
func (f *fakeContainerd) writes() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.calls {
		if !strings.HasPrefix(c, "lease ") {
			out = append(out, c)
		}
	}
	return out
}

func (f *fakeContainerd) count(prefix string) int {
	n := 0
	for _, c := range f.writes() {
		if strings.HasPrefix(c, prefix) {
			n++
		}
	}
	return n
}

func (x fakeContent) Info(_ context.Context, req *contentapi.InfoRequest) (*contentapi.InfoResponse, error) {
	f := x.f
	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.blobs[req.GetDigest()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "content %s: not found", req.GetDigest())
	}
	return &contentapi.InfoResponse{Info: &contentapi.Info{Digest: req.GetDigest(), Size: int64(len(b)), Labels: f.labels[req.GetDigest()]}}, nil
}

func (x fakeContent) Update(_ context.Context, req *contentapi.UpdateRequest) (*contentapi.UpdateResponse, error) {
	f := x.f
	f.mu.Lock()
	defer f.mu.Unlock()
	d := req.GetInfo().GetDigest()
	if _, ok := f.blobs[d]; !ok {
		return nil, status.Errorf(codes.NotFound, "content %s", d)
	}
	for k, v := range req.GetInfo().GetLabels() {
		f.labels[d][k] = v
	}
	f.record("label %s", d)
	return &contentapi.UpdateResponse{Info: req.GetInfo()}, nil
}

func (x fakeContent) Read(req *contentapi.ReadContentRequest, s contentapi.Content_ReadServer) error {
	f := x.f
	f.mu.Lock()
	b, ok := f.blobs[req.GetDigest()]
	f.mu.Unlock()
	if !ok {
		return status.Errorf(codes.NotFound, "content %s", req.GetDigest())
	}
	return s.Send(&contentapi.ReadContentResponse{Data: b})
}

func (x fakeContent) Write(s contentapi.Content_WriteServer) error {
	f := x.f
	var buf bytes.Buffer
	for {
		req, err := s.Recv()
		if errors.Is(err, io.EOF) {
			return status.Error(codes.FailedPrecondition, "stream ended before commit")
		}
		if err != nil {
			return err
		}
		if req.GetOffset() != int64(buf.Len()) {
			return status.Errorf(codes.OutOfRange, "offset %d, have %d", req.GetOffset(), buf.Len())
		}
		buf.Write(req.GetData())
		if req.GetAction() != contentapi.WriteAction_COMMIT {
			if err := s.Send(&contentapi.WriteContentResponse{Action: req.GetAction(), Offset: int64(buf.Len())}); err != nil {
				return err
			}
			continue
		}
		d := digest.FromBytes(buf.Bytes()).String()
		if d != req.GetExpected() || int64(buf.Len()) != req.GetTotal() {
			return status.Errorf(codes.FailedPrecondition, "commit: got %s size %d", d, buf.Len())
		}
		f.mu.Lock()
		f.blobs[d] = buf.Bytes()
		f.labels[d] = req.GetLabels()
		f.record("write %s", d)
		f.mu.Unlock()
		return s.Send(&contentapi.WriteContentResponse{Action: req.GetAction(), Digest: d, Offset: int64(buf.Len())})
	}
}

func (x fakeImages) Get(_ context.Context, req *imagesapi.GetImageRequest) (*imagesapi.GetImageResponse, error) {
	f := x.f
	f.mu.Lock()
	defer f.mu.Unlock()
	img, ok := f.images[req.GetName()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "image %q: not found", req.GetName())
	}
	return &imagesapi.GetImageResponse{Image: img}, nil
}

func (x fakeImages) List(context.Context, *imagesapi.ListImagesRequest) (*imagesapi.ListImagesResponse, error) {
	f := x.f
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*imagesapi.Image
	for _, img := range f.images {
		out = append(out, img)
	}
	return &imagesapi.ListImagesResponse{Images: out}, nil
}

func (x fakeImages) Create(_ context.Context, req *imagesapi.CreateImageRequest) (*imagesapi.CreateImageResponse, error) {
	f := x.f
	f.mu.Lock()
	defer f.mu.Unlock()
	img := req.GetImage()
	if _, ok := f.images[img.GetName()]; ok {
		return nil, status.Errorf(codes.AlreadyExists, "image %q", img.GetName())
	}
	img.CreatedAt = timestamppb.Now()
	f.images[img.GetName()] = img
	f.record("image create %s", img.GetName())
	return &imagesapi.CreateImageResponse{Image: img}, nil
}

func (x fakeSnapshots) Stat(_ context.Context, req *snapshotsapi.StatSnapshotRequest) (*snapshotsapi.StatSnapshotResponse, error) {
	f := x.f
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.committed[req.GetKey()] {
		return nil, status.Errorf(codes.NotFound, "snapshot %s", req.GetKey())
	}
	return &snapshotsapi.StatSnapshotResponse{Info: &snapshotsapi.Info{Name: req.GetKey(), Parent: f.snaps[req.GetKey()]}}, nil
}

func (x fakeSnapshots) Prepare(_ context.Context, req *snapshotsapi.PrepareSnapshotRequest) (*snapshotsapi.PrepareSnapshotResponse, error) {
	f := x.f
	f.mu.Lock()
	defer f.mu.Unlock()
	if req.GetParent() != "" && !f.committed[req.GetParent()] {
		return nil, status.Errorf(codes.NotFound, "parent %s", req.GetParent())
	}
	f.snaps[req.GetKey()] = req.GetParent()
	f.record("prepare %s %s", req.GetKey(), req.GetParent())
	return &snapshotsapi.PrepareSnapshotResponse{Mounts: []*types.Mount{{Type: "bind", Source: "/fake/" + req.GetKey()}}}, nil
}

func (x fakeSnapshots) Commit(_ context.Context, req *snapshotsapi.CommitSnapshotRequest) (*emptypb.Empty, error) {
	f := x.f
	f.mu.Lock()
	defer f.mu.Unlock()
	parent, ok := f.snaps[req.GetKey()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "snapshot key %s", req.GetKey())
	}
	delete(f.snaps, req.GetKey())
	f.snaps[req.GetName()] = parent
	f.committed[req.GetName()] = true
	f.record("commit %s", req.GetName())
	return &emptypb.Empty{}, nil
}

func (x fakeSnapshots) Remove(_ context.Context, req *snapshotsapi.RemoveSnapshotRequest) (*emptypb.Empty, error) {
	f := x.f
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.snaps[req.GetKey()]; !ok {
		return nil, status.Errorf(codes.NotFound, "snapshot %s", req.GetKey())
	}
	delete(f.snaps, req.GetKey())
	f.record("remove %s", req.GetKey())
	return &emptypb.Empty{}, nil
}

// Apply decompresses the layer from the fake content store and answers its digest.
func (x fakeDiff) Apply(_ context.Context, req *diffapi.ApplyRequest) (*diffapi.ApplyResponse, error) {
	f := x.f
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failApply {
		return nil, status.Error(codes.Internal, "apply: disk full")
	}
	b, ok := f.blobs[req.GetDiff().GetDigest()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "content %s", req.GetDiff().GetDigest())
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	u, err := io.ReadAll(zr)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	f.record("apply %s %s", req.GetDiff().GetDigest(), req.GetMounts()[0].GetSource())
	return &diffapi.ApplyResponse{Applied: &types.Descriptor{Digest: digest.FromBytes(u).String(), Size: int64(len(u))}}, nil
}

func (x fakeVersion) Version(context.Context, *emptypb.Empty) (*versionapi.VersionResponse, error) {
	return &versionapi.VersionResponse{Version: "v2.4.2-fake"}, nil
}

// The services, each on the shared state (their Go method names collide).
type (
	fakeContent struct {
		contentapi.UnimplementedContentServer
		f *fakeContainerd
	}
	fakeImages struct {
		imagesapi.UnimplementedImagesServer
		f *fakeContainerd
	}
	fakeSnapshots struct {
		snapshotsapi.UnimplementedSnapshotsServer
		f *fakeContainerd
	}
	fakeDiff struct {
		diffapi.UnimplementedDiffServer
		f *fakeContainerd
	}
	fakeLeases struct {
		leasesapi.UnimplementedLeasesServer
		f *fakeContainerd
	}
	fakeVersion struct {
		versionapi.UnimplementedVersionServer
	}
)

func (x fakeImages) Update(_ context.Context, req *imagesapi.UpdateImageRequest) (*imagesapi.UpdateImageResponse, error) {
	f := x.f
	f.mu.Lock()
	defer f.mu.Unlock()
	img, ok := f.images[req.GetImage().GetName()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "image %q", req.GetImage().GetName())
	}
	img.Target = req.GetImage().GetTarget()
	f.record("image update %s", img.GetName())
	return &imagesapi.UpdateImageResponse{Image: img}, nil
}

func (x fakeImages) Delete(_ context.Context, req *imagesapi.DeleteImageRequest) (*emptypb.Empty, error) {
	f := x.f
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.images, req.GetName())
	f.record("image delete %s", req.GetName())
	return &emptypb.Empty{}, nil
}

func (x fakeLeases) Create(_ context.Context, req *leasesapi.CreateRequest) (*leasesapi.CreateResponse, error) {
	x.f.mu.Lock()
	defer x.f.mu.Unlock()
	x.f.record("lease create %s", req.GetID())
	return &leasesapi.CreateResponse{Lease: &leasesapi.Lease{ID: req.GetID()}}, nil
}

func (x fakeLeases) Delete(_ context.Context, req *leasesapi.DeleteRequest) (*emptypb.Empty, error) {
	x.f.mu.Lock()
	defer x.f.mu.Unlock()
	x.f.record("lease delete %s", req.GetID())
	return &emptypb.Empty{}, nil
}
