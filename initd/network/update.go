package network

import (
	"errors"
	"slices"
)

// ErrRelink is returned by Update when the links themselves change (a link added or
// removed, DHCP turned on or off, another MTU): the caller stops this Network and
// configures afresh, since leases and link state cannot be carried over.
var ErrRelink = errors.New("network: the set of links changed; configure afresh")

// Update applies spec to the running network, live: static addresses and routes are added
// and removed, the hostname and resolvers chosen again, and time sync restarted when its
// servers change. Links and DHCP leases stay as they are.
func (n *Network) Update(spec Spec) error {
	old, ok := n.swapSpec(spec)
	if !ok {
		return ErrRelink
	}
	var errs []error
	for i, iface := range spec.Interfaces {
		errs = append(errs, n.updateStatic(old.Interfaces[i], iface))
	}
	errs = append(errs, n.refreshNaming())
	if !slices.Equal(old.TimeServers, spec.TimeServers) || old.TimeDisabled != spec.TimeDisabled {
		clock{n}.restart()
	}
	return errors.Join(errs...)
}

// swapSpec makes spec the Network's and returns the old one; false, and no swap, when the
// links differ.
func (n *Network) swapSpec(spec Spec) (Spec, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	old := n.spec
	if !sameLinks(old.Interfaces, spec.Interfaces) {
		return old, false
	}
	n.spec = spec
	n.spec.Interfaces = slices.Clone(spec.Interfaces) // the caller may reuse its slice
	return old, true
}

func sameLinks(a, b []Interface) bool {
	return slices.EqualFunc(a, b, func(x, y Interface) bool { return x.Name == y.Name && x.DHCP == y.DHCP && x.MTU == y.MTU })
}

// updateStatic moves one link's static addresses and routes from old to cur. The new
// addresses go on first, so the link never loses its subnet, and the kernel promotes a
// secondary address when the primary goes (promoteSecondaries) rather than flushing it;
// the routes go on last, all of them again (a replace is idempotent), since removing an
// address can take routes through it along.
func (n *Network) updateStatic(old, cur Interface) error {
	link, err := findLink(cur.Name)
	if err != nil {
		return err
	}
	var errs []error
	for _, p := range cur.Addresses {
		errs = append(errs, n.addStaticAddress(link, cur.Name, p))
	}
	for _, p := range removed(old.Addresses, cur.Addresses) {
		errs = append(errs, deleteAddress(link, p))
		n.forget(AddressStatus{Link: cur.Name, Address: p, Source: SourceStatic})
	}
	for _, r := range removed(old.Routes, cur.Routes) {
		route := staticRoute(cur.Name, r)
		errs = append(errs, deleteRoute(link, route))
		n.forget(route)
	}
	for _, r := range cur.Routes {
		errs = append(errs, n.addStaticRoute(link, staticRoute(cur.Name, r)))
	}
	return errors.Join(errs...)
}

// removed is what old has and cur does not.
func removed[T comparable](old, cur []T) []T {
	var out []T
	for _, v := range old {
		if !slices.Contains(cur, v) {
			out = append(out, v)
		}
	}
	return out
}
