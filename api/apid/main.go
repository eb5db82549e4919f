package apid

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/sirupsen/logrus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// DefaultMachinedSocket is where machined serves MachineService to apid.
const DefaultMachinedSocket = "/run/machined/machined.sock"

// DialMachined connects to machined's unix socket. The connection is lazy: machined may
// start after apid, and calls fail with Unavailable until it is there.
func DialMachined(socket string) (*grpc.ClientConn, error) {
	// The socket is reachable only by root on the node; TLS would add nothing.
	return grpc.NewClient("unix://"+socket,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(16<<20)),
	)
}

type flags struct {
	listen, ca, cert, key, socket string
	maintenance                   bool
}

func parseFlags(args []string, stderr io.Writer) (flags, error) {
	var f flags
	fs := flag.NewFlagSet("apid", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.listen, "listen", ":50000", "address to listen on")
	fs.StringVar(&f.ca, "ca", "", "CA certificates (PEM: the cluster OS CA and the accepted CAs) that client certificates must chain to; read at each handshake")
	fs.StringVar(&f.cert, "cert", "", "server certificate (PEM)")
	fs.StringVar(&f.key, "key", "", "server private key (PEM)")
	fs.StringVar(&f.socket, "machined-socket", DefaultMachinedSocket, "machined's gRPC unix socket")
	fs.BoolVar(&f.maintenance, "maintenance", false, "serve only Version and ApplyConfiguration, without client certificates, with --cert/--key if given, else a fresh self-signed certificate")
	if err := fs.Parse(args); err != nil {
		return flags{}, err
	}
	if fs.NArg() > 0 {
		return flags{}, fmt.Errorf("apid: unexpected argument %q (all inputs are flags)", fs.Arg(0))
	}
	if !f.maintenance && (f.ca == "" || f.cert == "" || f.key == "") {
		return flags{}, errors.New("apid: --ca, --cert and --key are required (or --maintenance)")
	}
	return f, nil
}

// Main runs apid until ctx is done. It is the entry point for the multi-call binary; see
// the package doc for the flags.
func Main(ctx context.Context, args []string, stderr io.Writer) error {
	f, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	log := logrus.New()
	log.SetOutput(stderr)
	backend, err := DialMachined(f.socket)
	if err != nil {
		return fmt.Errorf("apid: machined socket %s: %w", f.socket, err)
	}
	defer backend.Close()
	srv := &Server{ListenAddr: f.listen, Backend: backend, Maintenance: f.maintenance, Log: log}
	if err := srv.loadCredentials(f, log); err != nil {
		return err
	}
	log.WithFields(logrus.Fields{"listen": f.listen, "maintenance": f.maintenance}).Info("apid: serving")
	return srv.ListenAndServe(ctx)
}

func (s *Server) loadCredentials(f flags, log logrus.FieldLogger) error {
	if f.maintenance && f.cert != "" && f.key != "" {
		// machined made the certificate and shows its fingerprint itself.
		cert, err := tls.LoadX509KeyPair(f.cert, f.key)
		if err != nil {
			return fmt.Errorf("apid: maintenance certificate: %w", err)
		}
		s.Certificate = cert
		return nil
	}
	if f.maintenance {
		cert, fingerprint, err := SelfSignedMaintenanceCert(time.Now())
		if err != nil {
			return fmt.Errorf("apid: maintenance certificate: %w", err)
		}
		s.Certificate = cert
		log.WithField("sha256", fingerprint).Warn("apid: maintenance mode, certificate fingerprint")
		return nil
	}
	cert, err := tls.LoadX509KeyPair(f.cert, f.key)
	if err != nil {
		return fmt.Errorf("apid: server certificate: %w", err)
	}
	// Read once here so that a bad bundle stops apid at start, then at each handshake.
	if _, err := (&clientCAs{path: f.ca}).current(); err != nil {
		return fmt.Errorf("apid: %w", err)
	}
	s.Certificate, s.ClientCAsFile = cert, f.ca
	return nil
}
