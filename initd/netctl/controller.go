package netctl

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"reflect"

	"github.com/sirupsen/logrus"

	"github.com/kiln-os/kiln/initd/events"
	"github.com/kiln-os/kiln/initd/network"
	"github.com/kiln-os/kiln/initd/resources"
	"github.com/kiln-os/kiln/initd/resources/controller"
)

// Net is a configured network (*network.Network).
type Net interface {
	Update(network.Spec) error
	Wait()
}

// Configure brings a network up (network.Configure).
type Configure func(ctx context.Context, spec network.Spec, opts network.Options) (Net, error)

// Controller applies the network specs and publishes the network's statuses.
type Controller struct {
	Store      *resources.Store // statuses change between reconciles (leases, carrier)
	Log        logrus.FieldLogger
	Emit       func(events.Event)
	ResolvConf string
	Configure  Configure // nil: network.Configure

	net     Net                // nil until configured
	cancel  context.CancelFunc // ends net's background work
	absent  bool               // the default network found no link
	applied network.Spec       // what net (or absent) was made from
}

func (c *Controller) Name() string { return "NetworkController" }

func (c *Controller) Inputs() []controller.Input {
	in := make([]controller.Input, 0, len(specTypes))
	for _, t := range specTypes {
		in = append(in, controller.Input{Namespace: resources.NamespaceNetwork, Type: t})
	}
	return in
}

// statusTypes are written as the network reports them.
var statusTypes = []string{resources.TypeNetworkStatus, resources.TypeLinkStatus, resources.TypeAddressStatus,
	resources.TypeRouteStatus, resources.TypeHostnameStatus, resources.TypeResolverStatus, resources.TypeTimeStatus, resources.TypeBootServerStatus}

func (c *Controller) Outputs() []controller.Output {
	out := make([]controller.Output, 0, len(statusTypes))
	for _, t := range statusTypes {
		out = append(out, controller.Output{Type: t})
	}
	return out
}

// Reconcile makes the network what the specs say and records the outcome in
// network/NetworkStatus: the boot's Network phase and ApplyConfiguration wait for it.
func (c *Controller) Reconcile(ctx context.Context, r *controller.Runtime) error {
	want, sha, ok, err := desired(r)
	if err != nil || !ok {
		return err
	}
	err = c.apply(want)
	status := &resources.NetworkStatusSpec{ConfigSHA256: sha, Ready: err == nil}
	if err != nil {
		status.Error = err.Error()
	}
	if _, setErr := r.Set(ctx, resources.NamespaceNetwork, resources.TypeNetworkStatus, resources.NetworkStatusID, status); setErr != nil {
		return errors.Join(err, setErr)
	}
	return err
}

// apply changes the running network live, or configures it afresh when the links change.
func (c *Controller) apply(want network.Spec) error {
	if c.net != nil {
		err := c.net.Update(want)
		if !errors.Is(err, network.ErrRelink) {
			return err
		}
		c.stop()
	} else if c.absent && reflect.DeepEqual(c.applied, want) {
		return nil // still no link, and nothing new to try
	}
	return c.start(want)
}

// stop ends the running network and forgets what it reported: the network configured
// next reports afresh, and a link or address it no longer has must not linger.
func (c *Controller) stop() {
	c.cancel()
	c.net.Wait()
	c.net, c.cancel = nil, nil
	for _, typ := range statusTypes[1:] { // all but NetworkStatus, which Reconcile rewrites
		for _, res := range c.Store.List(resources.NamespaceNetwork, typ) {
			c.Store.Delete(resources.NamespaceNetwork, typ, res.ID, c.Name())
		}
	}
}

// start configures the network; it lives for the rest of the boot, not for one reconcile.
func (c *Controller) start(want network.Spec) error {
	configure := c.Configure
	if configure == nil {
		configure = func(ctx context.Context, s network.Spec, o network.Options) (Net, error) {
			return network.Configure(ctx, s, o)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	n, err := configure(ctx, want, network.Options{Log: c.Log, ResolvConf: c.ResolvConf, Report: c.report, Forget: c.forget})
	c.applied, c.absent = want, false
	if errors.Is(err, network.ErrNoLinks) && len(want.Interfaces) == 0 {
		cancel()
		c.absent = true
		c.Log.WithError(err).Warn("no network link to configure: the API is reachable only on this machine")
		c.Emit(events.Event{Type: events.TypeInfo, Name: "network", State: "absent", Error: err.Error()})
		return nil
	}
	if err != nil {
		cancel()
		return err
	}
	c.net, c.cancel = n, cancel
	return nil
}

// report and forget write the statuses package network reports, as this controller.
func (c *Controller) report(st network.Status) {
	typ, id, spec, ok := statusResource(st)
	if !ok {
		return
	}
	_, err := c.Store.Set(context.Background(), resources.NamespaceNetwork, typ, id, c.Name(), spec)
	if err != nil {
		c.Log.WithError(err).WithField("resource", typ+"/"+id).Warn("publish network status")
	}
}

func (c *Controller) forget(st network.Status) {
	if typ, id, _, ok := statusResource(st); ok {
		c.Store.Delete(resources.NamespaceNetwork, typ, id, c.Name())
	}
}

// desired reads the specs into what package network takes; ok is false until the spec
// controller has written them, and sha names the config they come from.
func desired(r *controller.Runtime) (spec network.Spec, sha string, ok bool, err error) {
	h, err := controller.Spec[resources.HostnameSpecSpec](r, resources.NamespaceNetwork, resources.TypeHostnameSpec, resources.HostnameSpecID)
	if err != nil || h == nil {
		return spec, "", false, err
	}
	spec.Hostname = h.Hostname
	if err := readSingletons(r, &spec); err != nil {
		return spec, "", false, err
	}
	spec.Interfaces, err = readInterfaces(r)
	return spec, h.ConfigSHA256, err == nil, err
}

func readSingletons(r *controller.Runtime, spec *network.Spec) error {
	resolvers, err := controller.Spec[resources.ResolverSpecSpec](r, resources.NamespaceNetwork, resources.TypeResolverSpec, resources.ResolverSpecID)
	if err != nil {
		return err
	}
	if resolvers != nil {
		for _, ns := range resolvers.Nameservers {
			a, err := netip.ParseAddr(ns)
			if err != nil {
				return fmt.Errorf("nameserver %q: %w", ns, err)
			}
			spec.Nameservers = append(spec.Nameservers, a)
		}
	}
	times, err := controller.Spec[resources.TimeServerSpecSpec](r, resources.NamespaceNetwork, resources.TypeTimeServerSpec, resources.TimeServerSpecID)
	if times != nil {
		spec.TimeServers, spec.TimeDisabled = times.Servers, times.Disabled
	}
	return err
}
