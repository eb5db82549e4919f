package netctl

import (
	"context"
	"strings"

	"github.com/kiln-os/kiln/config"
	"github.com/kiln-os/kiln/initd/configstate"
	"github.com/kiln-os/kiln/initd/resources"
	"github.com/kiln-os/kiln/initd/resources/controller"
)

// SpecController derives the network specs from the config. Without a config it writes
// the default: no link specs (DHCP on every link with carrier), no resolvers, default
// time servers.
type SpecController struct{}

func (SpecController) Name() string { return "NetworkSpecController" }

func (SpecController) Inputs() []controller.Input { return []controller.Input{configstate.Input} }

// specTypes are the outputs; the per-item ones come first, the singletons after, and
// HostnameSpec last of all (see resources.HostnameSpecSpec).
var specTypes = []string{resources.TypeLinkSpec, resources.TypeAddressSpec, resources.TypeRouteSpec,
	resources.TypeResolverSpec, resources.TypeTimeServerSpec, resources.TypeHostnameSpec}

func (SpecController) Outputs() []controller.Output {
	out := make([]controller.Output, 0, len(specTypes))
	for _, t := range specTypes {
		out = append(out, controller.Output{Type: t})
	}
	return out
}

// item is one spec resource to write.
type item struct {
	typ, id string
	spec    any
}

// Reconcile writes the specs the config asks for and removes the ones it no longer does,
// HostnameSpec last: a reader that sees its config digest sees the whole set.
func (c SpecController) Reconcile(ctx context.Context, r *controller.Runtime) error {
	cfg, err := configstate.FromRuntime(r)
	if err != nil {
		return err
	}
	items := Specs(cfg)
	last := items[len(items)-1] // HostnameSpec
	keep := map[string][]string{}
	for _, it := range items[:len(items)-1] {
		if _, err := r.Set(ctx, resources.NamespaceNetwork, it.typ, it.id, it.spec); err != nil {
			return err
		}
		keep[it.typ] = append(keep[it.typ], it.id)
	}
	for _, t := range specTypes[:len(specTypes)-1] {
		if err := r.Cleanup(resources.NamespaceNetwork, t, keep[t]); err != nil {
			return err
		}
	}
	_, err = r.Set(ctx, resources.NamespaceNetwork, last.typ, last.id, last.spec)
	return err
}

// Specs are the network specs of a config (nil: none yet), in the order they are written.
func Specs(cfg *resources.MachineConfigSpec) []item {
	var items []item
	host := &resources.HostnameSpecSpec{}
	resolvers, times := &resources.ResolverSpecSpec{}, &resources.TimeServerSpecSpec{}
	if cfg != nil {
		m := cfg.Config.Machine
		items = interfaceItems(m.Network.Interfaces)
		host.Hostname, host.ConfigSHA256 = m.Network.Hostname, cfg.SHA256
		resolvers.Nameservers = m.Network.Nameservers
		times.Servers, times.Disabled = m.Time.Servers, m.Time.Disabled
	}
	return append(items, item{resources.TypeResolverSpec, resources.ResolverSpecID, resolvers},
		item{resources.TypeTimeServerSpec, resources.TimeServerSpecID, times},
		item{resources.TypeHostnameSpec, resources.HostnameSpecID, host})
}

func interfaceItems(ifaces []config.Interface) []item {
	var items []item
	for _, in := range ifaces {
		items = append(items, item{resources.TypeLinkSpec, in.Name, &resources.LinkSpecSpec{Name: in.Name, DHCP: in.DHCP, MTU: in.MTU}})
		for _, a := range in.Addresses {
			items = append(items, item{resources.TypeAddressSpec, ID(in.Name, a), &resources.AddressSpecSpec{Link: in.Name, Address: a}})
		}
		for _, rt := range in.Routes {
			spec := &resources.RouteSpecSpec{Link: in.Name, Network: rt.Network, Gateway: rt.Gateway, Metric: rt.Metric}
			items = append(items, item{resources.TypeRouteSpec, ID(in.Name, rt.Network, rt.Gateway), spec})
		}
	}
	return items
}

// ID joins the parts of a resource id, with "/" (not allowed in an id's path through
// the API) turned into "_": "eth0_10.0.2.15_24".
func ID(parts ...string) string {
	return strings.ReplaceAll(strings.Join(parts, "/"), "/", "_")
}
