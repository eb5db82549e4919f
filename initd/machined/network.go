package machined

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/sirupsen/logrus"

	"github.com/kiln-os/kiln/config"
	"github.com/kiln-os/kiln/initd/events"
	"github.com/kiln-os/kiln/initd/network"
	"github.com/kiln-os/kiln/initd/resources"
)

// ResolvConf is where machined writes the resolvers; /etc/resolv.conf in the read-only
// root links to it (rootfs).
const ResolvConf = "/run/kiln/resolv.conf"

// configureNetwork is the Network phase: the config's network, or the default (DHCP on
// every link with carrier) when it names no interfaces.
func (m *Machined) configureNetwork(ctx context.Context, log logrus.FieldLogger) error {
	spec, err := networkSpec(m.currentConfig())
	if err != nil {
		return err
	}
	return m.startNetwork(spec, log)
}

// ensureDefaultNetwork brings up the default network for LoadConfig (a config URL) and
// maintenance mode, unless a network already runs.
func (m *Machined) ensureDefaultNetwork(ctx context.Context, log logrus.FieldLogger) error {
	m.netMu.Lock()
	running := m.net != nil
	m.netMu.Unlock()
	if running {
		return nil
	}
	return m.startNetwork(network.Spec{}, log)
}

// startNetwork replaces the running network configuration (its DHCP clients and time sync
// stop) with spec. The network lives for the rest of the boot, not for one phase.
func (m *Machined) startNetwork(spec network.Spec, log logrus.FieldLogger) error {
	m.netMu.Lock()
	defer m.netMu.Unlock()
	if m.netCancel != nil {
		m.netCancel()
	}
	ctx, cancel := context.WithCancel(context.Background())
	n, err := network.Configure(ctx, spec, network.Options{
		Log: log, ResolvConf: ResolvConf, Report: m.reportNetwork, Forget: m.forgetNetwork,
	})
	if errors.Is(err, network.ErrNoLinks) && len(spec.Interfaces) == 0 {
		cancel()
		log.WithError(err).Warn("no network link to configure: the API is reachable only on this machine")
		m.emit(events.Event{Type: events.TypeInfo, Name: "network", State: "absent", Error: err.Error()})
		return nil
	}
	if err != nil {
		cancel()
		return err
	}
	m.net, m.netCancel = n, cancel
	return nil
}

// networkSpec translates the machine config (already validated) for package network.
func networkSpec(cfg *config.Config) (network.Spec, error) {
	var spec network.Spec
	if cfg == nil {
		return spec, nil
	}
	c := cfg.Machine.Network
	spec.Hostname = c.Hostname
	spec.TimeServers, spec.TimeDisabled = cfg.Machine.Time.Servers, cfg.Machine.Time.Disabled
	for i, ns := range c.Nameservers {
		a, err := netip.ParseAddr(ns)
		if err != nil {
			return spec, fmt.Errorf("machine.network.nameservers[%d]: %w", i, err)
		}
		spec.Nameservers = append(spec.Nameservers, a)
	}
	for i, in := range c.Interfaces {
		iface, err := interfaceSpec(in)
		if err != nil {
			return spec, fmt.Errorf("machine.network.interfaces[%d]: %w", i, err)
		}
		spec.Interfaces = append(spec.Interfaces, iface)
	}
	return spec, nil
}

func interfaceSpec(in config.Interface) (network.Interface, error) {
	out := network.Interface{Name: in.Name, DHCP: in.DHCP, MTU: in.MTU}
	for _, a := range in.Addresses {
		p, err := netip.ParsePrefix(a)
		if err != nil {
			return out, err
		}
		out.Addresses = append(out.Addresses, p)
	}
	for _, r := range in.Routes {
		dst, err := netip.ParsePrefix(r.Network)
		if err != nil {
			return out, err
		}
		route := network.Route{Network: dst, Metric: r.Metric}
		if r.Gateway != "" {
			if route.Gateway, err = netip.ParseAddr(r.Gateway); err != nil {
				return out, err
			}
		}
		out.Routes = append(out.Routes, route)
	}
	return out, nil
}

// networkResource maps a network status to the resource that publishes it; ok is false
// for statuses with no resource type (routes, time).
func networkResource(st network.Status) (typ, id string, spec any, ok bool) {
	switch s := st.(type) {
	case network.LinkStatus:
		return resources.TypeLinkStatus, s.Name, &resources.LinkStatusSpec{Name: s.Name, Index: s.Index, HardwareAddr: s.MAC.String(),
			MTU: s.MTU, AdminUp: s.Up, Carrier: s.Carrier, Kind: "ether", OperState: operState(s)}, true
	case network.AddressStatus:
		family := "inet"
		if s.Address.Addr().Is6() {
			family = "inet6"
		}
		return resources.TypeAddressStatus, st.ID(), &resources.AddressStatusSpec{Link: s.Link, Address: s.Address.String(),
			Family: family, Scope: "global", Source: s.Source}, true
	case network.HostnameStatus:
		return resources.TypeHostnameStatus, resources.HostnameStatusID, &resources.HostnameStatusSpec{Hostname: s.Hostname, Domainname: s.Domain, Source: "network"}, true
	case network.ResolverStatus:
		var ns []string
		for _, a := range s.Nameservers {
			ns = append(ns, a.String())
		}
		return resources.TypeResolverStatus, resources.ResolverStatusID, &resources.ResolverStatusSpec{Nameservers: ns, SearchDomains: s.Search, Source: "network"}, true
	}
	return "", "", nil, false
}

func operState(s network.LinkStatus) string {
	if s.Up && s.Carrier {
		return "up"
	}
	return "down"
}

func (m *Machined) reportNetwork(st network.Status) {
	if typ, id, spec, ok := networkResource(st); ok {
		m.setResource(resources.NamespaceNetwork, typ, strings.ReplaceAll(id, "/", "_"), spec)
	}
}

func (m *Machined) forgetNetwork(st network.Status) {
	if typ, id, _, ok := networkResource(st); ok {
		m.Resources.Delete(resources.NamespaceNetwork, typ, strings.ReplaceAll(id, "/", "_"), owner)
	}
}
