package machineapi

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"

	"github.com/sirupsen/logrus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/kiln-os/kiln/api/machine"
	"github.com/kiln-os/kiln/initd/containers"
	"github.com/kiln-os/kiln/initd/events"
)

// Containers is what the image RPCs need from machined.
type Containers struct {
	// Runtime is containerd's client; nil until containerd is up (the RPCs answer
	// Unavailable meanwhile).
	Runtime func() containers.Runtime
	// Imported wakes the containers that wait for an image.
	Imported func()
	// CRI is the CRI containerd's client (namespace k8s.io), nil while it does not run.
	CRI func() containers.Runtime
	// Payload stores a Kubernetes payload read from r: this release's, or one kept for
	// the release that pins it. The Image names the file stored and says which.
	Payload func(ctx context.Context, r io.Reader) (containers.Image, error)
}

func (s *Server) runtime() (containers.Runtime, error) {
	if s.Containers == nil || s.Containers.Runtime == nil {
		return nil, errNotYet
	}
	rt := s.Containers.Runtime()
	if rt == nil {
		return nil, status.Error(codes.Unavailable, "containerd is not running yet")
	}
	return rt, nil
}

// Stats reads machined's, every service's and every container's cgroup.
func (s *Server) Stats(context.Context, *machine.StatsRequest) (*machine.StatsResponse, error) {
	stats, err := s.roots().Stats()
	if err != nil {
		return nil, diagStatus(err)
	}
	return &machine.StatsResponse{Stats: stats}, nil
}

// ImageList lists containerd's images.
func (s *Server) ImageList(ctx context.Context, _ *machine.ImageListRequest) (*machine.ImageListResponse, error) {
	rt, err := s.runtime()
	if err != nil {
		return nil, err
	}
	images, err := rt.Images(ctx)
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "containerd: %v", err)
	}
	return &machine.ImageListResponse{Images: imagesProto(images)}, nil
}

// ImageImport streams the chunks into containers.Runtime.Import, which checks the whole
// archive before it stores anything: into the node's containerd, or the CRI containerd
// when the first message asks for runtime "kubernetes". A Kubernetes payload (squashfs
// magic) goes to the payload store instead, which keeps it only if the root pins it.
func (s *Server) ImageImport(stream grpc.ClientStreamingServer[machine.ImageImportRequest, machine.ImageImportResponse]) error {
	first, err := stream.Recv()
	if err != nil {
		return status.Error(codes.InvalidArgument, "image import: no data")
	}
	who := caller(stream.Context())
	pr, pw := io.Pipe()
	go func() {
		if _, err := pw.Write(first.GetChunk()); err != nil {
			pw.CloseWithError(err)
			return
		}
		pw.CloseWithError(copyImportChunks(stream, pw))
	}()
	defer pr.CloseWithError(errors.New("import ended")) // unblocks the copier if the import stopped early
	if bytes.HasPrefix(first.GetChunk(), squashfsMagic) {
		return s.importPayload(stream, pr, who)
	}
	rt, err := s.importRuntime(first.GetRuntime())
	if err != nil {
		return err
	}
	images, err := rt.Import(stream.Context(), pr, containers.MaxImportBytes)
	if err != nil {
		s.Log.WithField("caller", who).WithError(err).Warn("image import refused")
		s.emit(events.Event{Type: events.TypeInfo, Name: "image-import", State: "refused", Error: err.Error(), Fields: map[string]string{"caller": who}})
		if errors.Is(err, containers.ErrInvalidArchive) {
			return status.Error(codes.InvalidArgument, err.Error())
		}
		return streamStatus(err)
	}
	names := make([]string, len(images))
	for i, im := range images {
		names[i] = im.Name + "@" + im.Digest
	}
	s.Log.WithField("caller", who).WithField("images", strings.Join(names, ",")).WithField("runtime", first.GetRuntime()).Info("images imported")
	s.emit(events.Event{Type: events.TypeInfo, Name: "image-import", State: "imported", Fields: map[string]string{"caller": who, "images": strings.Join(names, ","), "runtime": first.GetRuntime()}})
	if s.Containers.Imported != nil {
		s.Containers.Imported()
	}
	return stream.SendAndClose(&machine.ImageImportResponse{Images: imagesProto(images)})
}

// squashfsMagic starts every squashfs image ("hsqs", little-endian 0x73717368).
var squashfsMagic = []byte("hsqs")

// importRuntime is the containerd an import goes to.
func (s *Server) importRuntime(name string) (containers.Runtime, error) {
	switch name {
	case "", "system":
		return s.runtime()
	case "kubernetes":
		if s.Containers == nil || s.Containers.CRI == nil {
			return nil, errNotYet
		}
		if rt := s.Containers.CRI(); rt != nil {
			return rt, nil
		}
		return nil, status.Error(codes.Unavailable, "the CRI containerd is not running (the config runs no Kubernetes, or it has not started yet: kilnctl services)")
	}
	return nil, status.Errorf(codes.InvalidArgument, "runtime %q: want \"\" (the node's containerd) or \"kubernetes\"", name)
}

// importPayload stores a Kubernetes payload sent with image import.
func (s *Server) importPayload(stream grpc.ClientStreamingServer[machine.ImageImportRequest, machine.ImageImportResponse], r io.Reader, who string) error {
	if s.Containers == nil || s.Containers.Payload == nil {
		return errNotYet
	}
	stored, err := s.Containers.Payload(stream.Context(), r)
	if err != nil {
		s.Log.WithField("caller", who).WithError(err).Warn("Kubernetes payload import refused")
		s.emit(events.Event{Type: events.TypeInfo, Name: "image-import", State: "refused", Error: err.Error(), Fields: map[string]string{"caller": who, "kind": "kubernetes-payload"}})
		return status.Error(codes.InvalidArgument, err.Error())
	}
	s.Log.WithFields(logrus.Fields{"caller": who, "payload": stored.Name, "digest": stored.Digest}).Info("Kubernetes payload imported")
	s.emit(events.Event{Type: events.TypeInfo, Name: "image-import", State: "imported",
		Fields: map[string]string{"caller": who, "kind": "kubernetes-payload", "payload": stored.Name, "digest": stored.Digest}})
	return stream.SendAndClose(&machine.ImageImportResponse{Images: imagesProto([]containers.Image{stored})})
}

// copyImportChunks writes the stream's chunks to w until the client half-closes.
func copyImportChunks(stream grpc.ClientStreamingServer[machine.ImageImportRequest, machine.ImageImportResponse], w io.Writer) error {
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if _, err := w.Write(msg.GetChunk()); err != nil {
			return err
		}
	}
}

func imagesProto(images []containers.Image) []*machine.Image {
	out := make([]*machine.Image, len(images))
	for i, im := range images {
		out[i] = &machine.Image{Name: im.Name, Digest: im.Digest, Size: im.Size, Platform: im.Platform}
		if !im.Created.IsZero() {
			out[i].Created = timestamppb.New(im.Created)
		}
	}
	return out
}
