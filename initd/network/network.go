package network

import (
	"context"
	"maps"
	"net"
	"slices"
	"sync"

	"github.com/vishvananda/netlink"
)

// Network is the node's configured network. Its background work (lease renewal, time
// sync) runs until the context given to Configure ends; Wait waits for it to stop.
type Network struct {
	spec Spec
	opts Options

	mu        sync.Mutex
	links     map[string]LinkStatus
	addresses map[string]AddressStatus
	routes    map[string]RouteStatus
	leases    map[string]leaseFacts
	firstMAC  net.HardwareAddr // names the node when nothing else does
	hostname  *HostnameStatus  // nil until set
	resolvers *ResolverStatus  // nil until resolv.conf is written
	time      TimeStatus

	background sync.WaitGroup
	stop       context.CancelFunc // ends the background work when Configure fails
	ctx        context.Context    // the background work's; Update restarts time sync in it
	stopTime   context.CancelFunc // ends time sync alone (guarded by mu)
}

func newNetwork(spec Spec, opts Options) *Network {
	return &Network{
		spec:      spec,
		opts:      opts,
		links:     map[string]LinkStatus{},
		addresses: map[string]AddressStatus{},
		routes:    map[string]RouteStatus{},
		leases:    map[string]leaseFacts{},
		time:      TimeStatus{Disabled: spec.TimeDisabled},
	}
}

// Wait blocks until the background work has stopped, after the context ends.
func (n *Network) Wait() { n.background.Wait() }

// Snapshot returns the current state: links (read again from the kernel), addresses,
// routes, hostname, resolvers and time, in that order, each group sorted by ID.
func (n *Network) Snapshot() []Status {
	n.refreshLinks()
	n.mu.Lock()
	defer n.mu.Unlock()
	var all []Status
	all = appendSorted(all, n.links)
	all = appendSorted(all, n.addresses)
	all = appendSorted(all, n.routes)
	if n.hostname != nil {
		all = append(all, *n.hostname)
	}
	if n.resolvers != nil {
		all = append(all, *n.resolvers)
	}
	return append(all, n.time)
}

func appendSorted[S Status](all []Status, byID map[string]S) []Status {
	for _, id := range slices.Sorted(maps.Keys(byID)) {
		all = append(all, byID[id])
	}
	return all
}

// refreshLinks reads the links Configure touched again, reporting those that changed.
func (n *Network) refreshLinks() {
	n.mu.Lock()
	names := slices.Sorted(maps.Keys(n.links))
	n.mu.Unlock()
	for _, name := range names {
		if link, err := netlink.LinkByName(name); err == nil {
			n.recordLink(statusOf(link))
		}
	}
}

// record stores s and reports it. Reports go out under the lock so that the store sees
// them in the order they happened; Report must therefore not call back into Network.
func (n *Network) record(s Status) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.store(s)
	n.opts.Report(s)
}

func (n *Network) store(s Status) {
	switch s := s.(type) {
	case LinkStatus:
		n.links[s.Name] = s
	case AddressStatus:
		n.addresses[s.ID()] = s
	case RouteStatus:
		n.routes[s.ID()] = s
	case TimeStatus:
		n.time = s
	}
}

func (n *Network) recordLink(s LinkStatus) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if old, ok := n.links[s.Name]; ok && sameLink(old, s) {
		return
	}
	n.store(s)
	n.opts.Report(s)
}

func sameLink(a, b LinkStatus) bool {
	return a.Index == b.Index && a.Up == b.Up && a.Carrier == b.Carrier && a.MTU == b.MTU &&
		slices.Equal(a.MAC, b.MAC)
}

// forget drops s and tells the store it no longer holds.
func (n *Network) forget(s Status) {
	n.mu.Lock()
	defer n.mu.Unlock()
	switch s := s.(type) {
	case AddressStatus:
		delete(n.addresses, s.ID())
	case RouteStatus:
		delete(n.routes, s.ID())
	}
	n.opts.Forget(s)
}

// hasAddress says whether any link but lo holds an address Configure put there.
func (n *Network) hasAddress() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.addresses) > 0
}
