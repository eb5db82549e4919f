package machineapi

import (
	"context"
	"errors"
	"io"
	"strings"

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
// archive before it stores anything.
func (s *Server) ImageImport(stream grpc.ClientStreamingServer[machine.ImageImportRequest, machine.ImageImportResponse]) error {
	rt, err := s.runtime()
	if err != nil {
		return err
	}
	who := caller(stream.Context())
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(copyImportChunks(stream, pw)) }()
	images, err := rt.Import(stream.Context(), pr, containers.MaxImportBytes)
	pr.CloseWithError(errors.New("import ended")) // unblocks the copier if Import stopped early
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
	s.Log.WithField("caller", who).WithField("images", strings.Join(names, ",")).Info("images imported")
	s.emit(events.Event{Type: events.TypeInfo, Name: "image-import", State: "imported", Fields: map[string]string{"caller": who, "images": strings.Join(names, ",")}})
	if s.Containers.Imported != nil {
		s.Containers.Imported()
	}
	return stream.SendAndClose(&machine.ImageImportResponse{Images: imagesProto(images)})
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
