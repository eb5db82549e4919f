package machineapi

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/sirupsen/logrus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kiln-os/kiln/api/machine"
	"github.com/kiln-os/kiln/initd/k8s"
)

// Cluster is the Kubernetes side of the API: k8s.Admin on the node.
type Cluster interface {
	Bootstrap(ctx context.Context, by string) error
	Kubeconfig(user string, ttl time.Duration) ([]byte, error)
	EtcdMembers(ctx context.Context) ([]k8s.Member, error)
	EtcdSnapshot(ctx context.Context, w io.Writer) error
	Recover(ctx context.Context, r io.Reader, by string) (size int64, sha256 string, err error)
}

// defaultKubeconfigTTL is a kubeconfig's lifetime when the caller names none.
const defaultKubeconfigTTL = 365 * 24 * time.Hour

// maxKubeconfigTTL bounds a kubeconfig's lifetime: a client certificate cannot be
// revoked short of a new cluster CA.
const maxKubeconfigTTL = 5 * 365 * 24 * time.Hour

// Bootstrap starts the cluster's etcd on this controlplane.
func (s *Server) Bootstrap(ctx context.Context, _ *machine.BootstrapRequest) (*machine.BootstrapResponse, error) {
	if s.Cluster == nil {
		return nil, errNotYet
	}
	if err := s.Cluster.Bootstrap(ctx, caller(ctx)); err != nil {
		return nil, clusterError(err)
	}
	s.Log.WithField("caller", caller(ctx)).Info("etcd bootstrap requested")
	return &machine.BootstrapResponse{}, nil
}

// Kubeconfig issues an administrator's kubeconfig, named after the caller.
func (s *Server) Kubeconfig(ctx context.Context, req *machine.KubeconfigRequest) (*machine.KubeconfigResponse, error) {
	if s.Cluster == nil {
		return nil, errNotYet
	}
	ttl := time.Duration(req.GetTtlSeconds()) * time.Second
	switch {
	case ttl == 0:
		ttl = defaultKubeconfigTTL
	case ttl < time.Minute || ttl > maxKubeconfigTTL:
		return nil, status.Errorf(codes.InvalidArgument, "ttl %s: want between 1m and %s", ttl, maxKubeconfigTTL)
	}
	data, err := s.Cluster.Kubeconfig(caller(ctx), ttl)
	if err != nil {
		return nil, clusterError(err)
	}
	s.Log.WithField("caller", caller(ctx)).WithField("ttl", ttl).Info("admin kubeconfig issued")
	return &machine.KubeconfigResponse{Kubeconfig: data}, nil
}

// EtcdMembers lists etcd's members.
func (s *Server) EtcdMembers(ctx context.Context, _ *machine.EtcdMembersRequest) (*machine.EtcdMembersResponse, error) {
	if s.Cluster == nil {
		return nil, errNotYet
	}
	members, err := s.Cluster.EtcdMembers(ctx)
	if err != nil {
		return nil, clusterError(err)
	}
	resp := &machine.EtcdMembersResponse{}
	for _, m := range members {
		resp.Members = append(resp.Members, &machine.EtcdMember{Id: m.ID, Name: m.Name, PeerUrls: m.PeerURLs, ClientUrls: m.ClientURLs, Learner: m.Learner})
	}
	return resp, nil
}

// EtcdSnapshot streams a snapshot in chunks of at most 1 MiB.
func (s *Server) EtcdSnapshot(_ *machine.EtcdSnapshotRequest, stream machine.MachineService_EtcdSnapshotServer) error {
	if s.Cluster == nil {
		return errNotYet
	}
	w := &chunkWriter{send: func(b []byte) error { return stream.Send(&machine.EtcdSnapshotChunk{Data: b}) }}
	if err := s.Cluster.EtcdSnapshot(stream.Context(), w); err != nil {
		return clusterError(err)
	}
	s.Log.WithField("caller", caller(stream.Context())).WithField("bytes", w.sent).Info("etcd snapshot sent")
	return nil
}

// EtcdRecover bootstraps this controlplane's etcd from the snapshot the client streams.
func (s *Server) EtcdRecover(stream grpc.ClientStreamingServer[machine.EtcdRecoverRequest, machine.EtcdRecoverResponse]) error {
	if s.Cluster == nil {
		return errNotYet
	}
	who := caller(stream.Context())
	r := &chunkReader{recv: func() ([]byte, error) {
		msg, err := stream.Recv()
		if len(msg.GetChunk()) > 1<<20 {
			return nil, status.Errorf(codes.InvalidArgument, "a chunk of %d bytes: at most 1 MiB", len(msg.GetChunk()))
		}
		return msg.GetChunk(), err
	}}
	n, sum, err := s.Cluster.Recover(stream.Context(), r, who)
	if err != nil {
		s.Log.WithField("caller", who).WithError(err).Warn("etcd recovery refused")
		if errors.Is(err, k8s.ErrBadSnapshot) {
			return status.Error(codes.InvalidArgument, err.Error())
		}
		if _, ok := status.FromError(err); ok {
			return err
		}
		return clusterError(err)
	}
	s.Log.WithFields(logrus.Fields{"caller": who, "bytes": n, "sha256": sum}).Info("etcd recovered from a snapshot; bootstrap requested")
	return stream.SendAndClose(&machine.EtcdRecoverResponse{Bytes: n, Sha256: sum})
}

// chunkReader reads the chunks recv returns, until its error (io.EOF at the client's
// half-close).
type chunkReader struct {
	recv func() ([]byte, error)
	buf  []byte
}

func (c *chunkReader) Read(p []byte) (int, error) {
	for len(c.buf) == 0 {
		b, err := c.recv()
		if err != nil {
			return 0, err
		}
		c.buf = b
	}
	n := copy(p, c.buf)
	c.buf = c.buf[n:]
	return n, nil
}

// chunkWriter sends what is written to it in chunks of at most 1 MiB.
type chunkWriter struct {
	send func([]byte) error
	sent int64
}

func (c *chunkWriter) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		n := min(len(p), 1<<20)
		if err := c.send(p[:n]); err != nil {
			return written, err
		}
		p, written, c.sent = p[n:], written+n, c.sent+int64(n)
	}
	return written, nil
}

// clusterError maps k8s errors to gRPC codes.
func clusterError(err error) error {
	switch {
	case errors.Is(err, k8s.ErrAlreadyBootstrapped):
		return status.Error(codes.AlreadyExists, err.Error())
	case errors.Is(err, k8s.ErrPrecondition):
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return status.FromContextError(err).Err()
	}
	return status.Error(codes.Internal, err.Error())
}
