package lab

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// Subnet is the lab's IPv4 subnet: private (RFC 1918), and used only inside a lab's
// namespace, which has no uplink and no default route, so it can never clash with or
// reach a real network. The host (the test process, the boot server) is Addr(1) on the
// bridge; VMs get addresses from the lab's DHCP server or from Addr(n) in static configs.
const Subnet = "10.213.0.0/24"

// hostIndex is the host's address on the bridge: Addr(hostIndex).
const hostIndex = 1

var subnet = netip.MustParsePrefix(Subnet)

// Errors of the address guard.
var (
	ErrOutsideSubnet = errors.New("lab: address outside the lab subnet " + Subnet)
	ErrNotLiteral    = errors.New("lab: want an IP address, not a name (the lab has no DNS)")
)

// Addr returns the nth address of Subnet: 1 is the host, the last is the one before the
// broadcast address. Other n is an error.
func Addr(n int) (netip.Addr, error) {
	last := 1<<(32-subnet.Bits()) - 2
	if n < 1 || n > last {
		return netip.Addr{}, fmt.Errorf("lab: address number %d: want 1-%d in %s", n, last, Subnet)
	}
	b := subnet.Addr().As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v += uint32(n)
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), nil
}

// HostAddr is the host's address on every lab's bridge, Addr(1).
func HostAddr() netip.Addr {
	a, err := Addr(hostIndex)
	if err != nil {
		panic(err) // Subnet and hostIndex are constants
	}
	return a
}

// checkHostAddr refuses an address that may not be put on the lab: one outside Subnet,
// or the subnet's network or broadcast address.
func checkHostAddr(a netip.Addr) error {
	if !subnet.Contains(a) {
		return fmt.Errorf("%w: %s", ErrOutsideSubnet, a)
	}
	if a == subnet.Addr() || a == broadcast() {
		return fmt.Errorf("lab: %s is the network or broadcast address of %s", a, Subnet)
	}
	return nil
}

func broadcast() netip.Addr {
	last, _ := Addr(1<<(32-subnet.Bits()) - 2)
	return last.Next()
}

// checkDest refuses a destination that is not an IP literal in Subnet or on the
// namespace's own loopback. Nothing on the lab routes elsewhere, but the guard makes a
// wrong address an error here rather than a timeout.
func checkDest(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("lab: address %q: %w", addr, err)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("%w: %q", ErrNotLiteral, host)
	}
	ip = ip.Unmap()
	if ip.IsLoopback() || subnet.Contains(ip) {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrOutsideSubnet, ip)
}

// checkListen refuses a listening address that is not in Subnet, loopback or unspecified
// (an empty host listens on every address of the namespace, which are all the lab's).
func checkListen(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("lab: address %q: %w", addr, err)
	}
	if host == "" {
		return nil
	}
	if ip, err := netip.ParseAddr(host); err == nil && ip.IsUnspecified() {
		return nil
	}
	return checkDest(addr)
}

// macFor is a VM's MAC address, derived from its tap's name alone, so a test can put it
// on an allow-list before the lab exists. 52:54:00 is QEMU's prefix; its first octet has
// the locally administered bit set and the multicast bit clear (IEEE 802, 8.2.2).
func macFor(tap string) string {
	sum := sha256.Sum256([]byte("kiln-lab-tap/" + tap))
	return net.HardwareAddr{0x52, 0x54, 0x00, sum[0], sum[1], sum[2]}.String()
}

// checkIfname applies the kernel's rules for an interface name (dev_valid_name): 1-15
// bytes, not "." or "..", no '/', ':' or white space.
func checkIfname(name string) error {
	switch {
	case name == "" || len(name) > 15:
		return fmt.Errorf("lab: interface name %q: want 1-15 bytes", name)
	case name == "." || name == "..":
		return fmt.Errorf("lab: interface name %q is reserved", name)
	case strings.ContainsAny(name, "/: \t\n\v\f\r"):
		return fmt.Errorf("lab: interface name %q has '/', ':' or white space", name)
	}
	return nil
}
