package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const (
	// netnsDir is where ip(8) keeps named network namespaces (its NETNS_RUN_DIR).
	netnsDir = "/run/netns"
	// namePrefix starts every lab's namespace name: kiln-lab-<pid>-<n>.
	namePrefix = "kiln-lab-"
	// bridgeName is the bridge inside every lab; names inside a namespace cannot clash
	// with the host's.
	bridgeName = "kilnbr0"
	// bridgeMAC is fixed, so the bridge does not take the lowest MAC of its ports and
	// change its address each time a tap joins. 02: locally administered, unicast
	// (IEEE 802, 8.2.2); "kiln" in ASCII; never one that macFor makes (52:54:00:…).
	bridgeMAC = "02:6b:69:6c:6e:01"
	// closeTimeout bounds the ip commands of Close, which runs in a test's cleanup after
	// the test's own context has ended.
	closeTimeout = 30 * time.Second
)

var labCount atomic.Int64

// Lab is one lab network: a network namespace with a bridge that holds HostAddr. Its
// methods are safe for concurrent use.
type Lab struct {
	name string
	logf func(format string, args ...any)

	mu        sync.Mutex
	closed    bool
	closeErr  error
	taps      map[string]Tap
	listeners []net.Listener
}

// Tap is a VM's network port on the lab: a tap device on the lab's bridge, inside the
// namespace Netns, and the MAC address the VM's NIC gets (qemu.WithLabNIC(t.Netns,
// t.Name, t.MAC)).
type Tap struct {
	Netns string // the lab's namespace
	Name  string // the tap device's name inside it
	MAC   string // the VM's MAC, 52:54:00:xx:xx:xx, derived from Name alone
}

// New creates a lab: a fresh namespace kiln-lab-<pid>-<n> with lo up, and the bridge
// (Bridge) up with HostAddr. It first deletes the labs that killed runs left behind. The
// caller must Close it; ForTest does that at the test's cleanup. logf (nil for none) gets
// one line per change.
func New(ctx context.Context, logf func(format string, args ...any)) (*Lab, error) {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	removeStale(ctx, logf)
	l := &Lab{
		name: fmt.Sprintf("%s%d-%d", namePrefix, os.Getpid(), labCount.Add(1)),
		logf: logf,
		taps: map[string]Tap{},
	}
	if err := runIP(ctx, "netns", "add", l.name); err != nil {
		return nil, err
	}
	if err := l.setUp(ctx); err != nil {
		return nil, errors.Join(err, deleteNetns(l.name))
	}
	logf("lab %s: bridge %s with %s/%d", l.name, bridgeName, HostAddr(), subnet.Bits())
	return l, nil
}

// setUp builds the namespace's insides, in this order.
func (l *Lab) setUp(ctx context.Context) error {
	hostCIDR := fmt.Sprintf("%s/%d", HostAddr(), subnet.Bits())
	steps := [][]string{
		{"link", "set", "lo", "up"},
		// STP off and no forwarding delay: a port forwards as soon as QEMU opens its
		// tap, so the firmware's first DHCP discover is not dropped.
		{"link", "add", bridgeName, "address", bridgeMAC, "type", "bridge", "stp_state", "0", "forward_delay", "0"},
		{"addr", "add", hostCIDR, "dev", bridgeName},
		{"link", "set", bridgeName, "up"},
	}
	for _, s := range steps {
		if err := l.ipIn(ctx, s...); err != nil {
			return err
		}
	}
	return l.inNetns(disableForwarding)
}

// disableForwarding turns IPv4 forwarding off in the current thread's namespace (a new
// namespace may inherit the host's setting): the lab has one interface and routes nowhere.
func disableForwarding() error {
	const path = "/proc/sys/net/ipv4/ip_forward"
	if err := os.WriteFile(path, []byte("0\n"), 0); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	return nil
}

// Name is the lab's network namespace (for `ip netns exec`, `ip -n`).
func (l *Lab) Name() string { return l.name }

// Bridge is the name of the lab's bridge inside the namespace, the interface a server in
// the lab listens on (kiln pxe serve --interface).
func (l *Lab) Bridge() string { return bridgeName }

// NetnsPath is the namespace's file, for setns(2) or nsenter --net=.
func (l *Lab) NetnsPath() string { return filepath.Join(netnsDir, l.name) }

// AddHostAddr puts another address on the bridge beside HostAddr, for a second server on
// the lab (a plain DHCP server beside a ProxyDHCP one). It must be in Subnet.
func (l *Lab) AddHostAddr(ctx context.Context, addr netip.Addr) error {
	if err := checkHostAddr(addr); err != nil {
		return err
	}
	if err := l.ensureOpen(); err != nil {
		return err
	}
	cidr := fmt.Sprintf("%s/%d", addr, subnet.Bits())
	if err := l.ipIn(ctx, "addr", "add", cidr, "dev", bridgeName); err != nil {
		return err
	}
	l.logf("lab %s: host address %s", l.name, cidr)
	return nil
}

// Close deletes the namespace, and with it the bridge and the taps, and closes the
// listeners Listen made. A process or socket still inside keeps the namespace alive,
// nameless and unreachable, until it ends; VMs are stopped before the lab in a test
// because their cleanups were registered later. Calling Close again returns the first
// call's result.
func (l *Lab) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return l.closeErr
	}
	l.closed = true
	for _, ln := range l.listeners {
		ln.Close()
	}
	l.closeErr = deleteNetns(l.name)
	if l.closeErr == nil {
		l.logf("lab %s: deleted", l.name)
	}
	return l.closeErr
}

func (l *Lab) ensureOpen() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return fmt.Errorf("lab %s: closed", l.name)
	}
	return nil
}

// deleteNetns deletes a named namespace and checks that its name is gone.
func deleteNetns(name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	err := runIP(ctx, "netns", "delete", name)
	if _, statErr := os.Stat(filepath.Join(netnsDir, name)); !errors.Is(statErr, os.ErrNotExist) {
		return errors.Join(err, fmt.Errorf("lab: namespace %s still exists after ip netns delete (stat: %v)", name, statErr))
	}
	return nil
}

// removeStale deletes the labs of processes that no longer exist: a test binary killed
// by a timeout or a signal never ran its cleanups. A lab whose pid is alive is left, even
// when the pid was reused: deleting a live run's lab would break it.
func removeStale(ctx context.Context, logf func(string, ...any)) {
	entries, err := os.ReadDir(netnsDir)
	if err != nil {
		return // no namespaces at all yet
	}
	for _, e := range entries {
		pid, ok := stalePid(e.Name())
		if !ok || pid == os.Getpid() || syscall.Kill(pid, 0) != syscall.ESRCH {
			continue
		}
		if err := runIP(ctx, "netns", "delete", e.Name()); err != nil {
			logf("lab: stale namespace %s (pid %d is gone): %v", e.Name(), pid, err)
			continue
		}
		logf("lab: deleted stale namespace %s (pid %d is gone)", e.Name(), pid)
	}
}

// stalePid parses kiln-lab-<pid>-<n>.
func stalePid(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, namePrefix)
	if !ok {
		return 0, false
	}
	pidText, nText, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	pid, err := strconv.Atoi(pidText)
	if err != nil || pid <= 0 {
		return 0, false
	}
	if _, err := strconv.Atoi(nText); err != nil {
		return 0, false
	}
	return pid, true
}

// ipIn runs `ip -n <lab> args…`.
func (l *Lab) ipIn(ctx context.Context, args ...string) error {
	return runIP(ctx, append([]string{"-n", l.name}, args...)...)
}

// runIP runs ip(8); its error quotes the command and what ip said.
func runIP(ctx context.Context, args ...string) error {
	cmd := exec.CommandContext(ctx, "ip", args...)
	out, err := cmd.CombinedOutput()
	switch {
	case errors.Is(err, exec.ErrNotFound):
		return fmt.Errorf("lab: %w (install Debian package iproute2)", err)
	case err != nil:
		return fmt.Errorf("lab: ip %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}
