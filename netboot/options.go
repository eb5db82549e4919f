package netboot

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// Options are the settings of `kiln pxe serve`, one field per flag.
type Options struct {
	Interface string // --interface: the link to serve on; its first IPv4 address is the server's
	Out       string // --out: the build's output directory, holding manifest.json
	// DB is a PEM db certificate (--db) the UKI's signer must chain to; "" checks the
	// signer against the fingerprint in the manifest only.
	DB       string
	Proxy    bool   // --proxy: ProxyDHCP, no addresses handed out
	Range    string // --range FROM-TO: a full DHCP server leasing these addresses
	AllowMAC string // --allow-mac: comma-separated MACs answered; "" answers every MAC
	HTTPPort int    // --http-port
	TFTPPort int    // --tftp-port
	// Logf receives one line per request and the ready line (see the package doc).
	// Nil discards them.
	Logf func(format string, args ...any)
}

// FlagError is bad input, named by the flag that carries it.
type FlagError struct {
	Flag string // with its dashes: "--out"
	Err  error
}

func (e *FlagError) Error() string { return e.Flag + ": " + e.Err.Error() }
func (e *FlagError) Unwrap() error { return e.Err }

func flagErr(flag string, format string, args ...any) error {
	return &FlagError{Flag: flag, Err: fmt.Errorf(format, args...)}
}

// serverAddr is the interface's first IPv4 address and its subnet.
func serverAddr(name string) (netip.Prefix, error) {
	if name == "" {
		return netip.Prefix{}, flagErr("--interface", "required: the link the lab's machines are on")
	}
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return netip.Prefix{}, flagErr("--interface", "%s: %w", name, err)
	}
	addrs, err := ifi.Addrs()
	if err != nil {
		return netip.Prefix{}, flagErr("--interface", "%s: %w", name, err)
	}
	for _, a := range addrs {
		ipNet, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(ipNet.IP)
		if !ok || !ip.Unmap().Is4() {
			continue
		}
		bits, _ := ipNet.Mask.Size()
		return netip.PrefixFrom(ip.Unmap(), bits), nil
	}
	return netip.Prefix{}, flagErr("--interface", "%s has no IPv4 address (add one: ip addr add 10.x.y.1/24 dev %s)", name, name)
}

// addrRange is an inclusive range of IPv4 addresses to lease.
type addrRange struct{ From, To netip.Addr }

// parseRange reads FROM-TO: addresses of the server's subnet, neither its network nor
// broadcast address, not the server's own address, FROM ≤ TO.
func parseRange(s string, server netip.Prefix) (addrRange, error) {
	fromS, toS, ok := strings.Cut(s, "-")
	if !ok {
		return addrRange{}, flagErr("--range", "%q is not FROM-TO (like 10.0.0.100-10.0.0.199)", s)
	}
	var r addrRange
	for _, p := range []struct {
		text string
		addr *netip.Addr
	}{{fromS, &r.From}, {toS, &r.To}} {
		a, err := netip.ParseAddr(strings.TrimSpace(p.text))
		if err != nil || !a.Is4() {
			return addrRange{}, flagErr("--range", "%q is not an IPv4 address", p.text)
		}
		subnet := server.Masked()
		if !subnet.Contains(a) || a == subnet.Addr() || a == broadcast(subnet) {
			return addrRange{}, flagErr("--range", "%s is not a host address of %s, the subnet of --interface", a, subnet)
		}
		*p.addr = a
	}
	if r.To.Less(r.From) {
		return addrRange{}, flagErr("--range", "%s comes after %s", r.From, r.To)
	}
	if a := server.Addr(); !a.Less(r.From) && !r.To.Less(a) {
		return addrRange{}, flagErr("--range", "%s-%s holds the server's own address %s", r.From, r.To, a)
	}
	return r, nil
}

func broadcast(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	host := ^uint32(0) >> p.Bits()
	for i := range 4 {
		b[i] |= byte(host >> (24 - 8*i))
	}
	return netip.AddrFrom4(b)
}

// parseMACs reads a comma-separated list of Ethernet MACs; "" is nil (every MAC).
func parseMACs(s string) (map[string]bool, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	allow := map[string]bool{}
	for _, word := range strings.Split(s, ",") {
		mac, err := net.ParseMAC(strings.TrimSpace(word))
		if err != nil || len(mac) != 6 {
			return nil, flagErr("--allow-mac", "%q is not an Ethernet MAC (like 52:54:00:12:34:56)", word)
		}
		allow[mac.String()] = true
	}
	return allow, nil
}

func checkMode(o Options) error {
	switch {
	case o.Proxy && o.Range != "":
		return flagErr("--proxy", "and --range exclude each other: --proxy beside an existing DHCP server, --range for an isolated lab")
	case !o.Proxy && o.Range == "":
		return flagErr("--proxy", "or --range FROM-TO is required: --proxy beside an existing DHCP server, --range for an isolated lab")
	}
	return nil
}

func checkPort(flag string, port int) error {
	if port < 1 || port > 65535 {
		// 0 would let the kernel choose, and no client could be told the port.
		return flagErr(flag, "%d is not a port (1-65535)", port)
	}
	return nil
}
