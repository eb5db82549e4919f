package network

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
)

// ErrNoLinks is returned when a node without network config finds no link with carrier.
var ErrNoLinks = errors.New("no network link has carrier")

// Configure brings the node's network up as spec says (see the package doc for the
// steps) and returns once links are addressed, or with an error naming the links that
// got nothing (its background work then stopped). Lease renewal and time sync go on in
// the background until ctx ends.
func Configure(ctx context.Context, spec Spec, opts Options) (*Network, error) {
	n := newNetwork(spec, opts.withDefaults())
	ctx, cancel := context.WithCancel(ctx)
	n.stop, n.ctx = cancel, ctx
	if err := n.configure(ctx); err != nil {
		cancel()
		n.Wait()
		return nil, err
	}
	clock{n}.start(ctx)
	return n, nil
}

func (n *Network) configure(ctx context.Context) error {
	if err := setUp("lo"); err != nil {
		return err
	}
	ifaces, err := n.chooseInterfaces()
	if err != nil {
		return err
	}
	bound := make(chan string, len(ifaces))
	var dhcpLinks []string
	for _, iface := range ifaces {
		link, err := n.configureStatic(iface)
		if err != nil {
			return err
		}
		if iface.DHCP {
			dhcpLinks = append(dhcpLinks, iface.Name)
			n.background.Add(1)
			go leaser{n}.runDHCP(ctx, link, bound)
		}
	}
	if err := n.waitForLeases(ctx, dhcpLinks, bound); err != nil {
		return err
	}
	return n.refreshNaming()
}

// chooseInterfaces returns the Spec's interfaces, or the default ones for a node whose
// config names none, and remembers the MAC that names the node if nothing else does.
func (n *Network) chooseInterfaces() ([]Interface, error) {
	facts, err := listFacts()
	if err != nil {
		return nil, err
	}
	ifaces := n.spec.Interfaces
	if len(ifaces) == 0 {
		physical := physicalLinks(facts)
		if facts, err = waitForCarrier(physical, n.opts.CarrierWait); err != nil {
			return nil, err
		}
		if ifaces = defaultInterfaces(facts); len(ifaces) == 0 {
			return nil, fmt.Errorf("%w (checked %s for %v): connect one, or name the interfaces in the machine config",
				ErrNoLinks, orNone(physical), n.opts.CarrierWait)
		}
		n.opts.Log.WithField("links", interfaceNames(ifaces)).Info("no interfaces configured: DHCP on every link with carrier")
	}
	n.firstMAC = firstMAC(facts)
	return ifaces, nil
}

// configureStatic sets the MTU, brings the link up and adds its static addresses and routes.
func (n *Network) configureStatic(iface Interface) (netlink.Link, error) {
	link, err := findLink(iface.Name)
	if err != nil {
		return nil, err
	}
	if err := bringUp(link, iface.MTU); err != nil {
		return nil, err
	}
	if err := promoteSecondaries(n.opts.ProcSys, iface.Name); err != nil {
		n.opts.Log.WithError(err).Warn("removing a primary address will remove the others of its subnet too")
	}
	for _, p := range iface.Addresses {
		if err := n.addStaticAddress(link, iface.Name, p); err != nil {
			return nil, err
		}
	}
	for _, r := range iface.Routes {
		if err := n.addStaticRoute(link, staticRoute(iface.Name, r)); err != nil {
			return nil, err
		}
	}
	if link, err = netlink.LinkByIndex(link.Attrs().Index); err == nil {
		n.recordLink(statusOf(link))
	}
	return link, nil
}

func (n *Network) addStaticAddress(link netlink.Link, name string, p netip.Prefix) error {
	if err := addAddress(link, p, 0); err != nil {
		return err
	}
	n.record(AddressStatus{Link: name, Address: p, Source: SourceStatic})
	return nil
}

func (n *Network) addStaticRoute(link netlink.Link, route RouteStatus) error {
	if err := addRoute(link, route, false); err != nil {
		return err
	}
	n.record(route)
	return nil
}

func staticRoute(link string, r Route) RouteStatus {
	return RouteStatus{Link: link, Network: r.Network, Gateway: r.Gateway, Metric: r.Metric, Source: SourceStatic}
}

// waitForLeases waits until every DHCP link is bound or DHCPWait has passed. Links still
// waiting then keep trying in the background; it is an error only when no link has an
// address at all, since then the node cannot be reached.
func (n *Network) waitForLeases(ctx context.Context, links []string, bound <-chan string) error {
	if len(links) == 0 {
		return nil
	}
	timer := time.NewTimer(n.opts.DHCPWait)
	defer timer.Stop()
	pending := slices.Clone(links)
	for len(pending) > 0 {
		select {
		case name := <-bound:
			pending = slices.DeleteFunc(pending, func(p string) bool { return p == name })
		case <-timer.C:
			return n.timedOut(pending)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (n *Network) timedOut(pending []string) error {
	if !n.hasAddress() {
		return fmt.Errorf("no DHCP lease within %v on %s and no static address: check the cable and the DHCP server, or configure static addresses",
			n.opts.DHCPWait, strings.Join(pending, ", "))
	}
	n.opts.Log.WithField("links", pending).Warn("no DHCP lease yet; still trying in the background")
	return nil
}

func interfaceNames(ifaces []Interface) []string {
	names := make([]string, 0, len(ifaces))
	for _, iface := range ifaces {
		names = append(names, iface.Name)
	}
	return names
}

func orNone(names []string) string {
	if len(names) == 0 {
		return "none found"
	}
	return strings.Join(names, ", ")
}
