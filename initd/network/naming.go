package network

import (
	"fmt"
	"maps"
	"slices"
)

// refreshNaming brings resolv.conf and the hostname in line with the Spec and the current
// leases, writing or setting only what changed.
func (n *Network) refreshNaming() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	leases := n.leasesInLinkOrder()
	resolvers := chooseResolvers(n.spec.Nameservers, leases)
	if n.resolvers == nil || !sameResolvers(*n.resolvers, resolvers) {
		if err := writeResolvConf(n.opts.ResolvConf, resolvers); err != nil {
			return fmt.Errorf("write resolver config: %w", err)
		}
		n.resolvers = &resolvers
		n.opts.Report(resolvers)
	}
	hostname := chooseHostname(n.spec.Hostname, leases, n.firstMAC)
	if n.hostname == nil || *n.hostname != hostname {
		if err := n.opts.SetHostname(hostname.Hostname); err != nil {
			return err
		}
		n.hostname = &hostname
		n.opts.Report(hostname)
		n.opts.Log.WithField("hostname", hostname.Hostname).WithField("domain", hostname.Domain).Info("hostname set")
	}
	return nil
}

func (n *Network) leasesInLinkOrder() []leaseFacts {
	var leases []leaseFacts
	for _, name := range slices.Sorted(maps.Keys(n.leases)) {
		leases = append(leases, n.leases[name])
	}
	return leases
}

func sameResolvers(a, b ResolverStatus) bool {
	return slices.Equal(a.Nameservers, b.Nameservers) && slices.Equal(a.Search, b.Search)
}
