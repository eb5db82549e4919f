package trustd

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
)

// TestConnectionsFromOneAddressAreBounded is the slot-holding attack: one address opens
// connections and never speaks, to hold trustd's descriptors and goroutines. Past
// MaxConnsPerSource the server closes new ones at once.
func TestConnectionsFromOneAddressAreBounded(t *testing.T) {
	s := newSigner(t)
	s.Now = time.Now
	addr := serve(t, (&Server{Certificate: serverCert(t, s), Signer: s, Log: logrus.New()}).Serve)
	for i := range MaxConnsPerSource {
		conn := open(t, addr)
		if closedByServer(t, conn) {
			t.Fatalf("connection %d of %d was closed", i+1, MaxConnsPerSource)
		}
	}
	if !closedByServer(t, open(t, addr)) {
		t.Errorf("connection %d from one address was kept open", MaxConnsPerSource+1)
	}
}

func open(t *testing.T, addr string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// closedByServer waits briefly for the server to close conn; a silent client's
// connection is otherwise kept until the handshake timeout.
func closedByServer(t *testing.T, conn net.Conn) bool {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	_, err := conn.Read(make([]byte, 1))
	var nerr net.Error
	if errors.As(err, &nerr) && nerr.Timeout() {
		return false
	}
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
		t.Logf("read: %v (counted as closed)", err)
	}
	return true
}

// TestListenerHoldsTotalLimit: past the total, a connection from a new source waits until
// one closes.
func TestListenerHoldsTotalLimit(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lis := newLimitListener(inner, 2, 1)
	defer lis.Close()
	accepted := make(chan net.Conn, 3)
	go func() {
		for {
			conn, err := lis.Accept()
			if err != nil {
				return
			}
			accepted <- conn
		}
	}()
	for _, local := range []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"} {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
		conn, err := d.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Skipf("dial from %s: %v (needs the whole 127/8 on lo)", local, err)
		}
		defer conn.Close()
	}
	first, second := <-accepted, <-accepted
	select {
	case conn := <-accepted:
		t.Fatalf("third connection (from %v) accepted over a total of 2", conn.RemoteAddr())
	case <-time.After(50 * time.Millisecond):
	}
	first.Close()
	select {
	case <-accepted:
	case <-time.After(time.Second):
		t.Fatal("third connection not accepted after one closed")
	}
	second.Close()
}
