package netctl

import (
	"fmt"
	"net/netip"

	"github.com/kiln-os/kiln/initd/network"
	"github.com/kiln-os/kiln/initd/resources"
	"github.com/kiln-os/kiln/initd/resources/controller"
)

// readInterfaces gathers the link, address and route specs into interfaces, by link name.
func readInterfaces(r *controller.Runtime) ([]network.Interface, error) {
	var ifaces []network.Interface
	index := map[string]int{}
	err := eachSpec(r, resources.TypeLinkSpec, func(_ resources.Metadata, l *resources.LinkSpecSpec) error {
		index[l.Name] = len(ifaces)
		ifaces = append(ifaces, network.Interface{Name: l.Name, DHCP: l.DHCP, MTU: l.MTU})
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = eachSpec(r, resources.TypeAddressSpec, func(md resources.Metadata, a *resources.AddressSpecSpec) error {
		i, ok := index[a.Link]
		p, err := netip.ParsePrefix(a.Address)
		if !ok || err != nil {
			return fmt.Errorf("%s: address %q on link %q: %w", md, a.Address, a.Link, errOrNoLink(err))
		}
		ifaces[i].Addresses = append(ifaces[i].Addresses, p)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ifaces, eachSpec(r, resources.TypeRouteSpec, func(md resources.Metadata, rt *resources.RouteSpecSpec) error {
		route, err := parseRoute(rt)
		i, ok := index[rt.Link]
		if !ok || err != nil {
			return fmt.Errorf("%s: route on link %q: %w", md, rt.Link, errOrNoLink(err))
		}
		ifaces[i].Routes = append(ifaces[i].Routes, route)
		return nil
	})
}

// eachSpec calls fn with every network resource of typ and its spec, in id order.
func eachSpec[T any](r *controller.Runtime, typ string, fn func(resources.Metadata, *T) error) error {
	list, err := r.List(resources.NamespaceNetwork, typ)
	if err != nil {
		return err
	}
	for _, res := range list {
		spec, ok := res.Spec.(*T)
		if !ok {
			return fmt.Errorf("%s holds %T, not %T", res.Metadata, res.Spec, spec)
		}
		if err := fn(res.Metadata, spec); err != nil {
			return err
		}
	}
	return nil
}

func parseRoute(rt *resources.RouteSpecSpec) (network.Route, error) {
	dst, err := netip.ParsePrefix(rt.Network)
	if err != nil {
		return network.Route{}, err
	}
	route := network.Route{Network: dst, Metric: rt.Metric}
	if rt.Gateway != "" {
		route.Gateway, err = netip.ParseAddr(rt.Gateway)
	}
	return route, err
}

var errNoLinkSpec = fmt.Errorf("no link spec of that name")

func errOrNoLink(err error) error {
	if err != nil {
		return err
	}
	return errNoLinkSpec
}

// statusResource maps a network status to the resource that publishes it.
func statusResource(st network.Status) (typ, id string, spec any, ok bool) {
	switch s := st.(type) {
	case network.LinkStatus:
		return resources.TypeLinkStatus, s.Name, &resources.LinkStatusSpec{Name: s.Name, Index: s.Index, HardwareAddr: s.MAC.String(),
			MTU: s.MTU, AdminUp: s.Up, Carrier: s.Carrier, Kind: "ether", OperState: operState(s)}, true
	case network.AddressStatus:
		return resources.TypeAddressStatus, ID(st.ID()), &resources.AddressStatusSpec{Link: s.Link, Address: s.Address.String(),
			Family: family(s.Address.Addr()), Scope: "global", Source: s.Source}, true
	case network.RouteStatus:
		return resources.TypeRouteStatus, ID(st.ID()), routeStatus(s), true
	case network.HostnameStatus:
		return resources.TypeHostnameStatus, resources.HostnameStatusID, &resources.HostnameStatusSpec{Hostname: s.Hostname, Domainname: s.Domain, Source: "network"}, true
	case network.ResolverStatus:
		return resources.TypeResolverStatus, resources.ResolverStatusID, resolverStatus(s), true
	case network.TimeStatus:
		return resources.TypeTimeStatus, resources.TimeStatusID, timeStatus(s), true
	case network.BootServerStatus:
		return resources.TypeBootServerStatus, s.Link, &resources.BootServerStatusSpec{Link: s.Link, URL: s.URL}, true
	}
	return "", "", nil, false
}

func family(a netip.Addr) string {
	if a.Is6() {
		return "inet6"
	}
	return "inet"
}

func operState(s network.LinkStatus) string {
	if s.Up && s.Carrier {
		return "up"
	}
	return "down"
}

func routeStatus(s network.RouteStatus) *resources.RouteStatusSpec {
	out := &resources.RouteStatusSpec{Link: s.Link, Network: s.Network.String(), Metric: s.Metric, Source: s.Source}
	if s.Gateway.IsValid() {
		out.Gateway = s.Gateway.String()
	}
	return out
}

func resolverStatus(s network.ResolverStatus) *resources.ResolverStatusSpec {
	out := &resources.ResolverStatusSpec{SearchDomains: s.Search, Source: "network"}
	for _, a := range s.Nameservers {
		out.Nameservers = append(out.Nameservers, a.String())
	}
	return out
}

func timeStatus(s network.TimeStatus) *resources.TimeStatusSpec {
	out := &resources.TimeStatusSpec{Disabled: s.Disabled, Synced: s.Synced, Server: s.Server, Error: s.Error}
	if s.Synced {
		out.Offset = s.Offset.String()
	}
	return out
}
