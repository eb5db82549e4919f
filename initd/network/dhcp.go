package network

import (
	"context"
	"errors"
	"net/netip"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
	"github.com/sirupsen/logrus"
	"github.com/vishvananda/netlink"

	"github.com/kiln-os/kiln/internal/backoff"
)

// DHCPMetric is the metric of a default route learned from DHCP: above static routes
// (which default to 0), so that a configured default wins.
const DHCPMetric = 1024

// Timing of the DHCP exchange: nclient4 waits dhcpTimeout for each reply and sends each
// message dhcpRetries times before giving up; failures back off up to a minute.
const (
	dhcpTimeout    = 2 * time.Second
	dhcpRetries    = 3
	maxRenewPeriod = time.Minute
)

var defaultRoute = netip.MustParsePrefix("0.0.0.0/0")

// dhcpRequestOptions asks for the host and domain names on top of nclient4's defaults
// (subnet mask, router, domain name, DNS).
var dhcpRequestOptions = []dhcpv4.Modifier{
	dhcpv4.WithRequestedOptions(dhcpv4.OptionHostName, dhcpv4.OptionDomainName),
}

// leaser is the Network seen by DHCP: it runs the leases of the links and keeps the
// addresses, routes and names they carry in the Network's state.
type leaser struct{ *Network }

// runDHCP keeps link leased until ctx ends: acquire a lease, renew it, start over when it
// expires or the server refuses a renewal. bound hears the link's name after the first
// lease is in place.
func (n leaser) runDHCP(ctx context.Context, link netlink.Link, bound chan<- string) {
	defer n.background.Done()
	name := link.Attrs().Name
	log := n.opts.Log.WithField("link", name)
	client, err := nclient4.New(name, nclient4.WithTimeout(dhcpTimeout), nclient4.WithRetry(dhcpRetries))
	if err != nil {
		log.WithError(err).Error("DHCP client cannot start")
		return
	}
	defer client.Close()
	retry := backoff.Backoff{Base: time.Second, Max: time.Minute}
	for ctx.Err() == nil {
		lease, facts, err := acquire(ctx, client, name)
		if err != nil {
			log.WithError(err).Warn("DHCP: no lease yet")
			sleep(ctx, retry.Next())
			continue
		}
		retry.Reset()
		if err := n.applyLease(link, facts); err != nil {
			log.WithError(err).Error("DHCP lease not applied")
			sleep(ctx, retry.Next())
			continue
		}
		select {
		case bound <- name:
		default:
		}
		n.keepLease(ctx, client, link, lease, facts, log)
	}
}

func acquire(ctx context.Context, client *nclient4.Client, name string) (*nclient4.Lease, leaseFacts, error) {
	lease, err := client.Request(ctx, dhcpRequestOptions...)
	if err != nil {
		return nil, leaseFacts{}, err
	}
	facts, err := factsFromAck(name, lease.ACK)
	return lease, facts, err
}

// keepLease renews the lease at T1 and, when a renewal fails, again every half of the
// remaining time (at most a minute) until the lease runs out. It returns when the lease
// is gone (expired or refused, and removed from the link) or ctx ends.
func (n leaser) keepLease(ctx context.Context, client *nclient4.Client, link netlink.Link,
	lease *nclient4.Lease, facts leaseFacts, log logrus.FieldLogger) {
	// time.Now carries the monotonic clock, so a clock step by time sync moves neither.
	expires := time.Now().Add(facts.Lifetime)
	wait := facts.Renew
	log.WithField("address", facts.Address).WithField("lifetime", facts.Lifetime).Info("DHCP lease bound")
	for sleep(ctx, wait) {
		if time.Now().After(expires) {
			log.Warn("DHCP lease expired")
			n.dropLease(link, facts)
			return
		}
		renewed, renewedFacts, err := renew(ctx, client, lease, link.Attrs().Name)
		var nak *nclient4.ErrNak
		switch {
		case errors.As(err, &nak):
			log.WithError(err).Warn("DHCP server refused the renewal")
			n.dropLease(link, facts)
			return
		case err != nil:
			wait = max(min(time.Until(expires)/2, maxRenewPeriod), time.Second)
			log.WithError(err).WithField("retry", wait).Warn("DHCP renewal")
			continue
		}
		if err := n.applyLease(link, renewedFacts); err != nil {
			log.WithError(err).Error("renewed DHCP lease not applied")
		}
		lease, facts = renewed, renewedFacts
		expires, wait = time.Now().Add(facts.Lifetime), facts.Renew
	}
}

func renew(ctx context.Context, client *nclient4.Client, lease *nclient4.Lease, name string) (*nclient4.Lease, leaseFacts, error) {
	renewed, err := client.Renew(ctx, lease, dhcpRequestOptions...)
	if err != nil {
		return nil, leaseFacts{}, err
	}
	facts, err := factsFromAck(name, renewed.ACK)
	return renewed, facts, err
}

// applyLease puts the lease's address and default route on the link, replacing what an
// earlier lease on the link put there, and renames the node if the lease changed that.
func (n leaser) applyLease(link netlink.Link, f leaseFacts) error {
	if err := addAddress(link, f.Address, f.Lifetime); err != nil {
		return err
	}
	n.record(AddressStatus{Link: f.Link, Address: f.Address, Source: SourceDHCP})
	if f.BootURL != "" {
		n.record(BootServerStatus{Link: f.Link, URL: f.BootURL})
	}
	if f.Router.IsValid() {
		route := leaseRoute(f)
		if err := addRoute(link, route, !f.Address.Contains(f.Router)); err != nil {
			return err
		}
		n.record(route)
	}
	n.mu.Lock()
	old, had := n.leases[f.Link]
	n.leases[f.Link] = f
	n.mu.Unlock()
	if had {
		n.removeStale(link, old, f)
	}
	return n.refreshNaming()
}

func leaseRoute(f leaseFacts) RouteStatus {
	return RouteStatus{Link: f.Link, Network: defaultRoute, Gateway: f.Router, Metric: DHCPMetric, Source: SourceDHCP}
}

// removeStale removes the address and route of the old lease that the new one no longer has.
func (n leaser) removeStale(link netlink.Link, old, cur leaseFacts) {
	if old.Address != cur.Address {
		n.removeAddress(link, old)
	}
	if old.Router.IsValid() && old.Router != cur.Router {
		n.removeRoute(link, old)
	}
	if old.BootURL != "" && cur.BootURL == "" {
		n.forget(BootServerStatus{Link: old.Link, URL: old.BootURL})
	}
}

// dropLease takes a lost lease off the link.
func (n leaser) dropLease(link netlink.Link, f leaseFacts) {
	n.removeAddress(link, f)
	if f.Router.IsValid() {
		n.removeRoute(link, f)
	}
	if f.BootURL != "" {
		n.forget(BootServerStatus{Link: f.Link, URL: f.BootURL})
	}
	n.mu.Lock()
	delete(n.leases, f.Link)
	n.mu.Unlock()
	if err := n.refreshNaming(); err != nil {
		n.opts.Log.WithError(err).Error("renaming after a lost lease")
	}
}

// removeAddress deletes a lease's address; the kernel may have dropped it already when
// its lifetime ran out, so a failure is only logged.
func (n leaser) removeAddress(link netlink.Link, f leaseFacts) {
	if err := deleteAddress(link, f.Address); err != nil {
		n.opts.Log.WithError(err).Debug("stale DHCP address")
	}
	n.forget(AddressStatus{Link: f.Link, Address: f.Address, Source: SourceDHCP})
}

func (n leaser) removeRoute(link netlink.Link, f leaseFacts) {
	route := leaseRoute(f)
	if err := deleteRoute(link, route); err != nil {
		n.opts.Log.WithError(err).Debug("stale DHCP route")
	}
	n.forget(route)
}
