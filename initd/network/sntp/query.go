package sntp

import (
	"context"
	"fmt"
	"net"
	"time"
)

// DefaultTimeout bounds a Query whose context has no deadline.
const DefaultTimeout = 5 * time.Second

// Result is what one exchange measured.
type Result struct {
	Server  string // the address that answered
	Offset  time.Duration
	Delay   time.Duration
	Stratum uint8
}

// Query sends one request to server ("host" or "host:port", port 123 by default) and
// measures the local clock against the reply. now reads the local clock.
func Query(ctx context.Context, server string, now func() time.Time) (Result, error) {
	conn, err := dial(ctx, server)
	if err != nil {
		return Result{}, err
	}
	defer conn.Close()
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(DefaultTimeout)
	}
	if err := conn.SetDeadline(deadline); err != nil {
		return Result{}, err
	}
	t1 := now()
	req := Request(t1)
	if _, err := conn.Write(req.Marshal()); err != nil {
		return Result{}, fmt.Errorf("sntp %s: %w", server, err)
	}
	buf := make([]byte, 512)
	n, err := conn.Read(buf)
	t4 := now()
	if err != nil {
		return Result{}, fmt.Errorf("sntp %s: %w", server, err)
	}
	return measure(req, buf[:n], t1, t4, conn.RemoteAddr().String())
}

func dial(ctx context.Context, server string) (net.Conn, error) {
	if _, _, err := net.SplitHostPort(server); err != nil {
		server = net.JoinHostPort(server, "123")
	}
	var d net.Dialer
	return d.DialContext(ctx, "udp", server)
}

// measure checks reply against req and computes offset and delay. t1 is the exact time
// the request carries; t4 is when the reply arrived.
func measure(req Packet, reply []byte, t1, t4 time.Time, server string) (Result, error) {
	p, err := Parse(reply)
	if err != nil {
		return Result{}, fmt.Errorf("reply from %s: %w", server, err)
	}
	if err := p.CheckReply(req); err != nil {
		return Result{}, fmt.Errorf("reply from %s: %w", server, err)
	}
	offset, delay := Offset(t1, p.Receive.Time(), p.Transmit.Time(), t4)
	return Result{Server: server, Offset: offset, Delay: delay, Stratum: p.Stratum}, nil
}
