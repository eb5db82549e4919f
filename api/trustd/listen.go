package trustd

import (
	"net"
	"sync"
)

// Connections are bounded so that clients that connect and stay silent cannot hold all of
// trustd's descriptors: at most MaxConns at once, MaxConnsPerSource of them from one
// source (as sourceOf names it), and MaxStreams calls at once on one connection. An
// over-limit connection from a source is closed at once; past MaxConns, new connections
// wait in the kernel's backlog until one closes.
const (
	MaxConns          = 256
	MaxConnsPerSource = 8
	MaxStreams        = 4
)

// limitListener hands out connections while under both limits.
type limitListener struct {
	net.Listener
	perSource int
	slots     chan struct{} // one token per open connection

	mu    sync.Mutex
	count map[string]int
}

func newLimitListener(lis net.Listener, total, perSource int) *limitListener {
	return &limitListener{Listener: lis, perSource: perSource, slots: make(chan struct{}, total), count: make(map[string]int)}
}

// Accept waits for a free slot, then returns the next connection whose source is under
// its own limit.
func (l *limitListener) Accept() (net.Conn, error) {
	l.slots <- struct{}{}
	for {
		conn, err := l.Listener.Accept()
		if err != nil {
			<-l.slots
			return nil, err
		}
		source := sourceOfAddr(conn.RemoteAddr())
		if l.admit(source) {
			return &limitedConn{Conn: conn, release: func() { l.leave(source) }}, nil
		}
		conn.Close()
	}
}

func (l *limitListener) admit(source string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.count[source] >= l.perSource {
		return false
	}
	l.count[source]++
	return true
}

func (l *limitListener) leave(source string) {
	l.mu.Lock()
	if l.count[source]--; l.count[source] <= 0 {
		delete(l.count, source)
	}
	l.mu.Unlock()
	<-l.slots
}

// limitedConn gives its slot back on the first Close; gRPC may close twice.
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
