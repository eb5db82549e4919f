package client

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"

	"google.golang.org/grpc/credentials"
)

// DialError is a connection that could not be made, with what to do about it.
type DialError struct {
	Endpoint string
	// Err is the reason the last attempt gave: a net or TLS error.
	Err error
	// Advice tells the operator what to check or run.
	Advice string
}

func (e *DialError) Error() string {
	return fmt.Sprintf("%s: %v: %s", e.Endpoint, e.Err, e.Advice)
}

func (e *DialError) Unwrap() error { return e.Err }

// recorder keeps the last error of a dial or handshake: gRPC reports a failed connection
// only as a state, and its status messages flatten the typed errors into text.
type recorder struct {
	mu   sync.Mutex
	last error
}

func (r *recorder) record(err error) {
	r.mu.Lock()
	r.last = err
	r.mu.Unlock()
}

func (r *recorder) lastErr() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last
}

func (r *recorder) dial(ctx context.Context, addr string) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		r.record(err)
	}
	return conn, err
}

// explain turns the last recorded error (or fallback, when nothing was recorded) into a
// DialError with advice.
func (r *recorder) explain(endpoint string, fallback error) error {
	err := r.lastErr()
	if err == nil {
		err = fallback
	}
	if err == nil {
		err = errors.New("connection failed")
	}
	return &DialError{Endpoint: endpoint, Err: err, Advice: advise(err)}
}

const adviceUnreachable = "is the node up? is port " + DefaultPort + " forwarded?"

func advise(err error) string {
	var unknownCA x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	var hostname x509.HostnameError
	switch {
	case errors.Is(err, ErrFingerprintMismatch):
		return "this is not the node whose console shows the pinned fingerprint: check the address, and do not send it a config"
	case errors.As(err, &unknownCA):
		return "the node's certificate is not signed by this context's CA: if the node is in maintenance mode use --insecure, else pick the cluster's context with --context"
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		return "the node's certificate is expired or not yet valid: check the clocks of this machine and the node"
	case errors.As(err, &hostname):
		return "the node's certificate does not name this address: connect to an address the node's certificate names"
	case isRemoteTLSAlert(err):
		return "the node refuses the client certificate (another cluster's CA, or expired): generate a new one with kilnctl gen cert"
	case errors.As(err, new(*closedAfterHandshakeError)):
		return "the node closed the connection after the TLS handshake, as it does when it refuses the client certificate (another cluster's CA, or expired): generate a new one with kilnctl gen cert"
	}
	// Refused, unreachable, timed out: the node or the path to it is down.
	return adviceUnreachable
}

// isRemoteTLSAlert reports a TLS alert sent by the node. crypto/tls does not export the
// alert type; its text is "remote error: tls: <alert>".
func isRemoteTLSAlert(err error) bool {
	return err != nil && strings.Contains(err.Error(), "remote error: tls:")
}

// recordingCreds records handshake errors, and errors read or written after it: in
// TLS 1.3 the server checks the client certificate after the client considers the
// handshake done, so a refusal arrives on the first read (RFC 8446, section 4.4.2.4).
type recordingCreds struct {
	credentials.TransportCredentials
	rec *recorder
}

func (c *recordingCreds) ClientHandshake(ctx context.Context, authority string, raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	conn, info, err := c.TransportCredentials.ClientHandshake(ctx, authority, raw)
	if err != nil {
		c.rec.record(err)
		return nil, nil, err
	}
	return &alertConn{Conn: conn, rec: c.rec}, info, nil
}

// Clone shares the recorder, so a clone gRPC makes still reports to Dial.
func (c *recordingCreds) Clone() credentials.TransportCredentials {
	return &recordingCreds{TransportCredentials: c.TransportCredentials.Clone(), rec: c.rec}
}

type alertConn struct {
	net.Conn
	rec *recorder
}

func (c *alertConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err != nil && !errors.Is(err, net.ErrClosed) {
		c.rec.record(&closedAfterHandshakeError{err})
	}
	return n, err
}

func (c *alertConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if err != nil && !errors.Is(err, net.ErrClosed) {
		c.rec.record(&closedAfterHandshakeError{err})
	}
	return n, err
}

// closedAfterHandshakeError is a connection that failed on its first reads after the
// handshake. The node's alert may be lost: the node closes with our HTTP/2 preface unread,
// so the kernel answers with a reset that discards the alert before we read it.
type closedAfterHandshakeError struct{ err error }

func (e *closedAfterHandshakeError) Error() string { return e.err.Error() }
func (e *closedAfterHandshakeError) Unwrap() error { return e.err }
