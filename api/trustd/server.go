package trustd

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"time"

	"github.com/sirupsen/logrus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"

	"github.com/kiln-os/kiln/api/security"
)

// Server is trustd's TLS endpoint. Set the fields, then call Serve or ListenAndServe once.
type Server struct {
	ListenAddr string // e.g. ":50001"
	// Certificate is the node's TLS server certificate; clients present none.
	Certificate tls.Certificate
	Signer      *Signer
	Log         logrus.FieldLogger
}

// ListenAndServe listens on ListenAddr and calls Serve.
func (s *Server) ListenAndServe(ctx context.Context) error {
	var lc net.ListenConfig
	lis, err := lc.Listen(ctx, "tcp", s.ListenAddr)
	if err != nil {
		return err
	}
	return s.Serve(ctx, lis)
}

// Serve answers on lis until ctx is done. It closes lis.
func (s *Server) Serve(ctx context.Context, lis net.Listener) error {
	if err := s.check(); err != nil {
		lis.Close()
		return err
	}
	srv := grpc.NewServer(
		grpc.Creds(credentials.NewTLS(&tls.Config{
			MinVersion:   tls.VersionTLS13,
			Certificates: []tls.Certificate{s.Certificate},
			NextProtos:   []string{"h2"},
		})),
		// A CSR is a few KiB; nothing bigger is a request.
		grpc.MaxRecvMsgSize(64<<10),
		grpc.ConnectionTimeout(10*time.Second),
		grpc.MaxConcurrentStreams(MaxStreams),
		// A joining node makes one call; an idle connection only holds a slot.
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: 30 * time.Second}),
	)
	security.RegisterSecurityServiceServer(srv, s.Signer)
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		srv.GracefulStop() // every call is unary and short
	}()
	err := srv.Serve(newLimitListener(lis, MaxConns, MaxConnsPerSource))
	if ctx.Err() != nil {
		<-stopped
		return nil
	}
	srv.Stop()
	return err
}

func (s *Server) check() error {
	switch {
	case len(s.Certificate.Certificate) == 0:
		return errors.New("trustd: no server certificate: set Server.Certificate")
	case s.Signer == nil || s.Signer.CA == nil || s.Signer.CAKey == nil || s.Signer.Now == nil:
		return errors.New("trustd: Signer needs CA, CAKey and Now")
	case s.Signer.Token == "" && s.Signer.TokenFile == "":
		return errors.New("trustd: no join token: the machine config must set one")
	case s.Log == nil:
		return errors.New("trustd: no logger: set Server.Log")
	}
	return nil
}
