package trustd

import (
	"bytes"
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"time"

	"github.com/sirupsen/logrus"
)

type flags struct {
	listen, ca, caKey, cert, key, tokenFile string
}

func parseFlags(args []string, stderr io.Writer) (flags, error) {
	var f flags
	fs := flag.NewFlagSet("trustd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.listen, "listen", ":50001", "address to listen on")
	fs.StringVar(&f.ca, "ca", "", "OS CA certificate (PEM)")
	fs.StringVar(&f.caKey, "ca-key", "", "OS CA private key (PEM)")
	fs.StringVar(&f.cert, "cert", "", "server certificate (PEM)")
	fs.StringVar(&f.key, "key", "", "server private key (PEM)")
	fs.StringVar(&f.tokenFile, "token-file", "", "file holding the cluster join token")
	if err := fs.Parse(args); err != nil {
		return flags{}, err
	}
	if fs.NArg() > 0 {
		return flags{}, fmt.Errorf("trustd: unexpected argument %q (all inputs are flags)", fs.Arg(0))
	}
	if f.ca == "" || f.caKey == "" || f.cert == "" || f.key == "" || f.tokenFile == "" {
		return flags{}, errors.New("trustd: --ca, --ca-key, --cert, --key and --token-file are required")
	}
	return f, nil
}

// Main runs trustd until ctx is done. It is the entry point for the multi-call binary; see
// the package doc for the flags.
func Main(ctx context.Context, args []string, stderr io.Writer) error {
	f, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	log := logrus.New()
	log.SetOutput(stderr)
	signer, err := loadSigner(f)
	if err != nil {
		return fmt.Errorf("trustd: %w", err)
	}
	cert, err := tls.LoadX509KeyPair(f.cert, f.key)
	if err != nil {
		return fmt.Errorf("trustd: server certificate: %w", err)
	}
	log.WithField("listen", f.listen).Info("trustd: serving")
	srv := &Server{ListenAddr: f.listen, Certificate: cert, Signer: signer, Log: log}
	return srv.ListenAndServe(ctx)
}

func loadSigner(f flags) (*Signer, error) {
	pair, err := tls.LoadX509KeyPair(f.ca, f.caKey)
	if err != nil {
		return nil, fmt.Errorf("OS CA: %w", err)
	}
	ca, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("OS CA %s: %w", f.ca, err)
	}
	key, ok := pair.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("OS CA key %s cannot sign", f.caKey)
	}
	token, err := os.ReadFile(f.tokenFile)
	if err != nil {
		return nil, err
	}
	token = bytes.TrimSpace(token)
	if len(token) == 0 {
		return nil, fmt.Errorf("token file %s is empty: write the cluster join token into it", f.tokenFile)
	}
	own, err := ownAddrs(f.cert)
	if err != nil {
		return nil, err
	}
	return &Signer{CA: ca, CAKey: key, TokenFile: f.tokenFile, OwnAddrs: own, Now: time.Now}, nil
}

// ownAddrs lists the control plane's addresses at each request: the IP names of its
// serving certificate (apid's: its addresses and certSANs, as issued) and the addresses
// of its interfaces now, which may be newer than the certificate.
func ownAddrs(certFile string) (func() ([]net.IP, error), error) {
	data, err := os.ReadFile(certFile)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("server certificate %s: no PEM CERTIFICATE block", certFile)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("server certificate %s: %w", certFile, err)
	}
	return func() ([]net.IP, error) {
		addrs, err := net.InterfaceAddrs()
		if err != nil {
			return nil, err
		}
		own := slices.Clone(cert.IPAddresses)
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				own = append(own, n.IP)
			}
		}
		return own, nil
	}, nil
}
