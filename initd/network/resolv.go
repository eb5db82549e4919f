package network

import (
	"bytes"
	"fmt"
	"net/netip"

	"github.com/kiln-os/kiln/internal/atomicfile"
)

// glibc reads at most three nameservers and six search domains (resolv.conf(5), MAXNS
// and MAXDNSRCH); more would be silently ignored, so they are dropped here, visibly.
const (
	maxNameservers   = 3
	maxSearchDomains = 6
)

// renderResolvConf returns the resolv.conf for the resolver status.
func renderResolvConf(r ResolverStatus) []byte {
	var b bytes.Buffer
	b.WriteString("# Written by machined from the machine config and DHCP leases.\n")
	for _, ns := range r.Nameservers[:min(len(r.Nameservers), maxNameservers)] {
		fmt.Fprintf(&b, "nameserver %s\n", ns)
	}
	if len(r.Search) > 0 {
		b.WriteString("search")
		for _, domain := range r.Search[:min(len(r.Search), maxSearchDomains)] {
			b.WriteString(" " + domain)
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// chooseResolvers takes the Spec's nameservers, else every lease's in link order; the
// search list is every lease's domain, in link order, without duplicates.
func chooseResolvers(spec []netip.Addr, leases []leaseFacts) ResolverStatus {
	var r ResolverStatus
	r.Nameservers = append(r.Nameservers, spec...)
	for _, l := range leases {
		if len(spec) == 0 {
			r.Nameservers = appendNew(r.Nameservers, l.DNS...)
		}
		if l.Domain != "" {
			r.Search = appendNew(r.Search, l.Domain)
		}
	}
	return r
}

func appendNew[T comparable](list []T, items ...T) []T {
	for _, item := range items {
		if !contains(list, item) {
			list = append(list, item)
		}
	}
	return list
}

func contains[T comparable](list []T, item T) bool {
	for _, have := range list {
		if have == item {
			return true
		}
	}
	return false
}

func writeResolvConf(path string, r ResolverStatus) error {
	return atomicfile.Write(path, renderResolvConf(r), 0o644)
}
