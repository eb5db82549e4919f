package apid

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"time"

	"github.com/sirupsen/logrus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
)

// Server is apid. Set the exported fields, then call Serve or ListenAndServe once.
type Server struct {
	// ListenAddr is where ListenAndServe listens, e.g. ":50000".
	ListenAddr string
	// Certificate is apid's TLS server certificate. In maintenance mode use
	// SelfSignedMaintenanceCert.
	Certificate tls.Certificate
	// ClientCAs verifies client certificates; it or ClientCAsFile is required unless
	// Maintenance.
	ClientCAs *x509.CertPool
	// ClientCAsFile, when set, replaces ClientCAs: a PEM bundle of CA certificates read
	// at each handshake, so that a CA rolled in or out applies to the next connection.
	ClientCAsFile string
	// Backend is the connection to machined (see DialMachined).
	Backend grpc.ClientConnInterface
	// Maintenance serves only Version and ApplyConfiguration, without client certificates.
	Maintenance bool
	// Log receives denials and server errors.
	Log logrus.FieldLogger
	// Limits bound what one client can ask of apid; zero fields take the defaults.
	Limits Limits
}

// Limits bound what clients can ask of apid.
type Limits struct {
	MaxRecvMsgSize       int           // bytes; default 4 MiB, in maintenance mode a config's limit (config.MaxSize) and framing
	MaxSendMsgSize       int           // bytes; default 16 MiB (a resource list, an event log)
	MaxConcurrentStreams uint32        // per connection; default 128
	RatePerSecond        float64       // calls per second per caller, sustained; default 50
	Burst                int           // calls a caller may make at once; default 100
	KeepaliveMinTime     time.Duration // clients pinging more often are disconnected; default 10 s
	ShutdownGrace        time.Duration // how long Serve waits for calls to end after ctx is done; default 5 s
}

func (l Limits) withDefaults() Limits {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.MaxRecvMsgSize, 4<<20)
	def(&l.MaxSendMsgSize, 16<<20)
	def(&l.Burst, 100)
	if l.MaxConcurrentStreams == 0 {
		l.MaxConcurrentStreams = 128
	}
	if l.RatePerSecond <= 0 {
		l.RatePerSecond = 50
	}
	if l.KeepaliveMinTime <= 0 {
		l.KeepaliveMinTime = 10 * time.Second
	}
	if l.ShutdownGrace <= 0 {
		l.ShutdownGrace = 5 * time.Second
	}
	return l
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

// Serve answers gRPC calls on lis until ctx is done, then stops gracefully (cutting off
// calls still running after Limits.ShutdownGrace). It closes lis.
func (s *Server) Serve(ctx context.Context, lis net.Listener) error {
	if err := s.check(); err != nil {
		lis.Close()
		return err
	}
	srv := s.newGRPCServer()
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		gracefulStop(srv, s.Limits.withDefaults().ShutdownGrace)
	}()
	err := srv.Serve(lis)
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
		return errors.New("apid: no server certificate: set Server.Certificate (SelfSignedMaintenanceCert in maintenance mode)")
	case !s.Maintenance && s.ClientCAs == nil && s.ClientCAsFile == "":
		return errors.New("apid: no client CA: set Server.ClientCAs or ClientCAsFile to the cluster OS CA, or run in maintenance mode")
	case s.Backend == nil:
		return errors.New("apid: no backend: set Server.Backend to a connection to machined (DialMachined)")
	case s.Log == nil:
		return errors.New("apid: no logger: set Server.Log")
	}
	return nil
}

func (s *Server) newGRPCServer() *grpc.Server {
	limits := s.Limits
	if s.Maintenance {
		limits = maintenanceLimits(limits)
	}
	limits = limits.withDefaults()
	gate := &gate{
		maintenance:  s.Maintenance,
		limiter:      newLimiter(limits.RatePerSecond, limits.Burst, time.Now),
		applyLimiter: applyBudget(s.Maintenance, time.Now),
		streams:      newStreamBudget(),
		log:          s.Log,
	}
	srv := grpc.NewServer(
		grpc.Creds(credentials.NewTLS(s.tlsConfig())),
		grpc.MaxRecvMsgSize(limits.MaxRecvMsgSize),
		grpc.MaxSendMsgSize(limits.MaxSendMsgSize),
		grpc.MaxConcurrentStreams(limits.MaxConcurrentStreams),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             limits.KeepaliveMinTime,
			PermitWithoutStream: true,
		}),
		// Ping idle connections so that a client that vanished mid-stream (Events with
		// follow) is noticed and its backend stream cancelled.
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: time.Minute, Timeout: 20 * time.Second}),
		grpc.ChainUnaryInterceptor(gate.unary),
		grpc.ChainStreamInterceptor(gate.stream),
		// Every method apid does not serve itself goes to machined as raw frames, after
		// the gate; the codec falls back to proto for the services registered here.
		grpc.UnknownServiceHandler((&proxy{backend: s.Backend}).handle),
		grpc.ForceServerCodecV2(frameCodec{}),
	)
	registerReflection(srv)
	gate.streamMethods = streamingMethods(srv)
	return srv
}

// gracefulStop lets running calls finish for grace, then cuts them off: a follow stream
// would otherwise hold shutdown forever.
func gracefulStop(srv *grpc.Server, grace time.Duration) {
	done := make(chan struct{})
	go func() {
		srv.GracefulStop()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(grace):
		srv.Stop()
		<-done
	}
}
