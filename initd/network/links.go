package network

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// linkFacts is what default selection needs to know about a link.
type linkFacts struct {
	Name     string
	Index    int
	MAC      net.HardwareAddr
	Kind     string // netlink's link type: "device" for a NIC, "veth", "bridge", …
	Loopback bool
	Carrier  bool
}

// physicalLinks returns the names of links that look like NICs, sorted: kind "device"
// (no virtual driver claims it) and not loopback. veth, bridge, dummy, bond, tun and the
// like have their own kind and are left alone without config.
func physicalLinks(links []linkFacts) []string {
	var names []string
	for _, l := range links {
		if l.Kind == "device" && !l.Loopback {
			names = append(names, l.Name)
		}
	}
	slices.Sort(names)
	return names
}

// defaultInterfaces is the Spec a node without network config gets: DHCP on every
// physical link that has carrier.
func defaultInterfaces(links []linkFacts) []Interface {
	withCarrier := map[string]bool{}
	for _, l := range links {
		withCarrier[l.Name] = l.Carrier
	}
	var ifaces []Interface
	for _, name := range physicalLinks(links) {
		if withCarrier[name] {
			ifaces = append(ifaces, Interface{Name: name, DHCP: true})
		}
	}
	return ifaces
}

// firstMAC returns the hardware address of the physical link with the lowest index, else
// of any other link but loopback: the kernel numbers NICs in probe order, which is stable
// on a given machine, so the fallback hostname is too.
func firstMAC(links []linkFacts) net.HardwareAddr {
	physical := physicalLinks(links)
	byIndex := slices.SortedFunc(slices.Values(links), func(a, b linkFacts) int { return a.Index - b.Index })
	for _, wantPhysical := range []bool{true, false} {
		for _, l := range byIndex {
			if !l.Loopback && len(l.MAC) >= 3 && slices.Contains(physical, l.Name) == wantPhysical {
				return l.MAC
			}
		}
	}
	return nil
}

func factsOf(l netlink.Link) linkFacts {
	a := l.Attrs()
	return linkFacts{
		Name:     a.Name,
		Index:    a.Index,
		MAC:      slices.Clone(a.HardwareAddr),
		Kind:     l.Type(),
		Loopback: a.Flags&net.FlagLoopback != 0,
		Carrier:  a.RawFlags&unix.IFF_LOWER_UP != 0,
	}
}

func statusOf(l netlink.Link) LinkStatus {
	a := l.Attrs()
	return LinkStatus{
		Name:    a.Name,
		Index:   a.Index,
		MAC:     slices.Clone(a.HardwareAddr),
		Up:      a.Flags&net.FlagUp != 0,
		Carrier: a.RawFlags&unix.IFF_LOWER_UP != 0,
		MTU:     a.MTU,
	}
}

func listFacts() ([]linkFacts, error) {
	links, err := netlink.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list links: %w", err)
	}
	facts := make([]linkFacts, 0, len(links))
	for _, l := range links {
		facts = append(facts, factsOf(l))
	}
	return facts, nil
}

// waitForCarrier brings every named link up and polls until all have carrier or wait
// has passed, then returns the links as they are.
func waitForCarrier(names []string, wait time.Duration) ([]linkFacts, error) {
	for _, name := range names {
		if err := setUp(name); err != nil {
			return nil, err
		}
	}
	deadline := time.Now().Add(wait)
	for {
		facts, err := listFacts()
		if err != nil {
			return nil, err
		}
		if allHaveCarrier(facts, names) || time.Now().After(deadline) {
			return facts, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func allHaveCarrier(facts []linkFacts, names []string) bool {
	for _, f := range facts {
		if slices.Contains(names, f.Name) && !f.Carrier {
			return false
		}
	}
	return true
}

func setUp(name string) error {
	link, err := netlink.LinkByName(name)
	if err != nil {
		return fmt.Errorf("link %s: %w", name, err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("set link %s up: %w", name, err)
	}
	return nil
}

// findLink returns the named link; the error lists the links that exist, since a wrong
// interface name in the machine config is the usual cause.
func findLink(name string) (netlink.Link, error) {
	link, err := netlink.LinkByName(name)
	if err == nil {
		return link, nil
	}
	var names []string
	if facts, listErr := listFacts(); listErr == nil {
		for _, f := range facts {
			names = append(names, f.Name)
		}
	}
	return nil, fmt.Errorf("interface %q from the machine config: %w (links on this node: %s)",
		name, err, strings.Join(names, ", "))
}

// bringUp sets the MTU (when asked) and the link up.
func bringUp(link netlink.Link, mtu int) error {
	name := link.Attrs().Name
	if mtu > 0 && link.Attrs().MTU != mtu {
		if err := netlink.LinkSetMTU(link, mtu); err != nil {
			return fmt.Errorf("set MTU %d on %s: %w", mtu, name, err)
		}
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("set link %s up: %w", name, err)
	}
	return nil
}

// promoteSecondaries makes the kernel keep a link's other addresses of a subnet when the
// first (primary) one is deleted, promoting one of them, instead of deleting them all: a
// static address added beside a DHCP lease must survive the lease, and the lease a
// static address removed by a new config.
func promoteSecondaries(procSys, link string) error {
	path := filepath.Join(procSys, "net", "ipv4", "conf", link, "promote_secondaries")
	if err := os.WriteFile(path, []byte("1\n"), 0o644); err != nil {
		return fmt.Errorf("promote secondary addresses on %s: %w", link, err)
	}
	return nil
}

// addAddress adds (or refreshes) an address; a lifetime of 0 means forever, otherwise
// the kernel drops the address when the lifetime runs out without a renewal.
func addAddress(link netlink.Link, p netip.Prefix, lifetime time.Duration) error {
	addr := &netlink.Addr{IPNet: ipNet(p)}
	if lifetime > 0 {
		secs := int(lifetime / time.Second)
		addr.ValidLft, addr.PreferedLft = secs, secs
	}
	if err := netlink.AddrReplace(link, addr); err != nil {
		return fmt.Errorf("add address %s to %s: %w", p, link.Attrs().Name, err)
	}
	return nil
}

func deleteAddress(link netlink.Link, p netip.Prefix) error {
	if err := netlink.AddrDel(link, &netlink.Addr{IPNet: ipNet(p)}); err != nil {
		return fmt.Errorf("delete address %s from %s: %w", p, link.Attrs().Name, err)
	}
	return nil
}

// addRoute adds (or replaces) a route. onLink says the gateway lies outside the link's
// subnets: DHCP servers in clouds lease a /32 with a router beside it, which the kernel
// accepts only when told the router is on the link.
func addRoute(link netlink.Link, r RouteStatus, onLink bool) error {
	route := &netlink.Route{
		LinkIndex: link.Attrs().Index,
		Dst:       ipNet(r.Network.Masked()),
		Priority:  int(r.Metric),
		Protocol:  routeProtocol(r.Source),
	}
	if r.Gateway.IsValid() {
		route.Gw = r.Gateway.AsSlice()
	} else {
		route.Scope = netlink.SCOPE_LINK
	}
	if onLink {
		route.Flags = int(netlink.FLAG_ONLINK)
	}
	if err := netlink.RouteReplace(route); err != nil {
		return fmt.Errorf("add route %s via %s on %s: %w", r.Network, r.Gateway, link.Attrs().Name, err)
	}
	return nil
}

func deleteRoute(link netlink.Link, r RouteStatus) error {
	route := &netlink.Route{LinkIndex: link.Attrs().Index, Dst: ipNet(r.Network.Masked()), Priority: int(r.Metric)}
	if r.Gateway.IsValid() {
		route.Gw = r.Gateway.AsSlice()
	}
	if err := netlink.RouteDel(route); err != nil {
		return fmt.Errorf("delete route %s on %s: %w", r.Network, link.Attrs().Name, err)
	}
	return nil
}

func routeProtocol(source string) netlink.RouteProtocol {
	if source == SourceDHCP {
		return unix.RTPROT_DHCP
	}
	return unix.RTPROT_STATIC
}

func ipNet(p netip.Prefix) *net.IPNet {
	bits := 32
	if p.Addr().Is6() {
		bits = 128
	}
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), bits)}
}
