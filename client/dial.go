package client

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials"

	"github.com/kiln-os/kiln/api/rbac"
)

// DefaultPort is apid's port.
const DefaultPort = "50000"

// DefaultDialTimeout bounds Dial when DialOptions.Timeout is zero.
const DefaultDialTimeout = 10 * time.Second

// DialOptions says which node to reach and how to prove who we are.
type DialOptions struct {
	// Endpoint is host or host:port; the port defaults to DefaultPort.
	Endpoint string
	// Context holds the CA and client certificate; it is not used in maintenance mode.
	Context *Context
	// Maintenance dials with server-only TLS: no client certificate, the server
	// certificate not verified but pinned (Fingerprint) or shown (OnFingerprint).
	Maintenance bool
	// Fingerprint pins the server certificate's hex SHA-256 in maintenance mode.
	Fingerprint string
	// OnFingerprint receives the server certificate's fingerprint once, in maintenance
	// mode without a pin.
	OnFingerprint func(hex string)
	// Timeout bounds connecting; zero means DefaultDialTimeout.
	Timeout time.Duration
	// Now is the clock the client certificate is checked against; nil means time.Now.
	Now func() time.Time
}

// Endpoint returns addr with the default port added when it has none.
func Endpoint(addr string) string {
	if _, _, err := net.SplitHostPort(addr); err == nil {
		return addr
	}
	return net.JoinHostPort(addr, DefaultPort)
}

// Dial connects to a node's apid and waits until the connection is up, the handshake
// failed, or the timeout passed. Calls on the returned connection fail with errors that
// say what to do (see RPCError).
func Dial(ctx context.Context, opts DialOptions) (*grpc.ClientConn, error) {
	endpoint := Endpoint(opts.Endpoint)
	host, _, _ := net.SplitHostPort(endpoint)
	conf, roles, err := opts.tlsConfig(host)
	if err != nil {
		return nil, err
	}
	rec := &recorder{}
	conn, err := grpc.NewClient("passthrough:///"+endpoint,
		grpc.WithTransportCredentials(&recordingCreds{TransportCredentials: credentials.NewTLS(conf), rec: rec}),
		grpc.WithContextDialer(rec.dial),
		grpc.WithChainUnaryInterceptor(explainUnary(roles, opts.Maintenance)),
		grpc.WithChainStreamInterceptor(explainStream(roles, opts.Maintenance)),
	)
	if err != nil {
		return nil, fmt.Errorf("endpoint %q: %w", opts.Endpoint, err)
	}
	if err := waitReady(ctx, conn, endpoint, opts.timeout(), rec); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

func (o DialOptions) tlsConfig(host string) (*tls.Config, []rbac.Role, error) {
	if o.Maintenance {
		return serverOnlyTLS(o.Fingerprint, o.OnFingerprint), nil, nil
	}
	if o.Context == nil {
		return nil, nil, fmt.Errorf("no credentials for %s: run kilnctl gen config, or use --insecure for a node in maintenance mode", host)
	}
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	return mutualTLS(o.Context, host, now())
}

func (o DialOptions) timeout() time.Duration {
	if o.Timeout > 0 {
		return o.Timeout
	}
	return DefaultDialTimeout
}

// waitReady connects now rather than at the first call, so a dead node is reported by
// Dial within the timeout and with the reason the last attempt gave.
func waitReady(ctx context.Context, conn *grpc.ClientConn, endpoint string, timeout time.Duration, rec *recorder) error {
	waitCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn.Connect()
	for {
		state := conn.GetState()
		switch state {
		case connectivity.Ready:
			return nil
		case connectivity.TransientFailure:
			return rec.explain(endpoint, nil)
		}
		if !conn.WaitForStateChange(waitCtx, state) {
			if err := ctx.Err(); err != nil {
				return err
			}
			return rec.explain(endpoint, fmt.Errorf("no connection within %s", timeout))
		}
	}
}
