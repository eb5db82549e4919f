package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// DialContext connects to addr ("10.213.0.5:50000") from inside the lab, with a socket
// made in the lab's namespace, while the test process stays where it is. addr must be an
// IP address in Subnet or loopback (the namespace's own lo); anything else is refused
// before a packet is sent. network is tcp, tcp4, udp or udp4. Its signature fits
// net.Dialer-style hooks; for gRPC use grpc.WithContextDialer(l.GRPCDialer()).
func (l *Lab) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	switch network {
	case "tcp", "tcp4", "udp", "udp4":
	default:
		return nil, fmt.Errorf("lab %s: dial %s %s: want tcp, tcp4, udp or udp4", l.name, network, addr)
	}
	if err := checkDest(addr); err != nil {
		return nil, err
	}
	var conn net.Conn
	err := l.inNetns(func() error {
		var d net.Dialer
		var err error
		conn, err = d.DialContext(ctx, network, addr)
		return err
	})
	return conn, err
}

// Dial is DialContext without a context.
func (l *Lab) Dial(network, addr string) (net.Conn, error) {
	return l.DialContext(context.Background(), network, addr)
}

// GRPCDialer is DialContext over TCP in the shape grpc.WithContextDialer takes.
func (l *Lab) GRPCDialer() func(ctx context.Context, addr string) (net.Conn, error) {
	return func(ctx context.Context, addr string) (net.Conn, error) {
		return l.DialContext(ctx, "tcp", addr)
	}
}

// Listen listens on addr inside the lab (network tcp or tcp4); addr is an address in
// Subnet, loopback, or unspecified (":0", every address of the namespace). Connections it
// accepts are in the lab too. Close closes it if the caller has not.
func (l *Lab) Listen(network, addr string) (net.Listener, error) {
	if network != "tcp" && network != "tcp4" {
		return nil, fmt.Errorf("lab %s: listen %s %s: want tcp or tcp4", l.name, network, addr)
	}
	if err := checkListen(addr); err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, fmt.Errorf("lab %s: closed", l.name)
	}
	var ln net.Listener
	err := l.inNetns(func() error {
		var err error
		ln, err = net.Listen(network, addr)
		return err
	})
	if err != nil {
		return nil, err
	}
	l.listeners = append(l.listeners, ln)
	return ln, nil
}

// inNetns runs fn on an OS thread that is inside the lab's namespace for the duration of
// fn, so the sockets fn creates belong to the lab (a socket keeps the namespace it was
// made in). fn runs on a goroutine of its own, locked to its thread. When the thread
// cannot be put back into its namespace the goroutine exits still locked, and the Go
// runtime then ends the thread instead of reusing it elsewhere (runtime.LockOSThread).
// The runtime starts new threads from a clean template thread while one is locked, so none
// is born inside the lab.
func (l *Lab) inNetns(fn func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		restored, err := l.runInNetns(fn)
		if restored {
			runtime.UnlockOSThread()
		}
		done <- err
	}()
	return <-done
}

// runInNetns enters the lab, runs fn and returns; restored is false only when the thread
// is stuck in the lab's namespace.
func (l *Lab) runInNetns(fn func() error) (restored bool, err error) {
	home, err := openNetns("/proc/thread-self/ns/net")
	if err != nil {
		return true, err
	}
	defer unix.Close(home)
	lab, err := openNetns(l.NetnsPath())
	if err != nil {
		return true, fmt.Errorf("lab %s: %w", l.name, err)
	}
	defer unix.Close(lab)
	if err := unix.Setns(lab, unix.CLONE_NEWNET); err != nil {
		return true, fmt.Errorf("lab %s: %w", l.name, &os.PathError{Op: "setns", Path: l.NetnsPath(), Err: err})
	}
	fnErr := fn()
	if err := unix.Setns(home, unix.CLONE_NEWNET); err != nil {
		return false, errors.Join(fnErr, fmt.Errorf("lab %s: back to the host namespace: %w", l.name,
			&os.PathError{Op: "setns", Path: "/proc/thread-self/ns/net", Err: err}))
	}
	return true, fnErr
}

func openNetns(path string) (int, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return fd, nil
}
