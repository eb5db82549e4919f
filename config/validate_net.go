package config

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

func (n *Network) validate(l *errorList, p string) {
	if n.Hostname != "" && (len(n.Hostname) > 64 || !hostnamePattern.MatchString(n.Hostname)) {
		// 64 is the kernel's HOST_NAME_MAX: sethostname refuses anything longer.
		l.add(0, p+".hostname", "must be an RFC 1123 host name of at most 64 bytes, got %q", n.Hostname)
	}
	seen := map[string]bool{}
	for i := range n.Interfaces {
		at := fmt.Sprintf("%s.interfaces[%d]", p, i)
		n.Interfaces[i].validate(l, at)
		if seen[n.Interfaces[i].Name] {
			l.add(0, at+".interface", "interface %q is listed twice", n.Interfaces[i].Name)
		}
		seen[n.Interfaces[i].Name] = true
	}
	for i, ns := range n.Nameservers {
		if _, err := netip.ParseAddr(ns); err != nil {
			l.add(0, fmt.Sprintf("%s.nameservers[%d]", p, i), "%q is not an IP address", ns)
		}
	}
}

func (in *Interface) validate(l *errorList, p string) {
	if reason := linkNameProblem(in.Name); reason != "" {
		l.add(0, p+".interface", "%s", reason)
	}
	for i, a := range in.Addresses {
		if _, err := netip.ParsePrefix(a); err != nil {
			l.add(0, fmt.Sprintf("%s.addresses[%d]", p, i), "%q is not an address in CIDR form (192.168.1.10/24)", a)
		}
	}
	for i := range in.Routes {
		in.Routes[i].validate(l, fmt.Sprintf("%s.routes[%d]", p, i))
	}
	if in.MTU != 0 && (in.MTU < 68 || in.MTU > 65535) {
		// 68 is the IPv4 minimum (RFC 791); 65535 the largest the kernel accepts for most links.
		l.add(0, p+".mtu", "must be 68..65535 (or absent for the link default), got %d", in.MTU)
	}
}

// linkNameProblem mirrors the kernel's dev_valid_name (net/core/dev.c): 1 to 15 bytes
// (IFNAMSIZ 16 with the NUL), not "." or "..", no '/', ':' or white space.
func linkNameProblem(name string) string {
	switch {
	case name == "":
		return "is empty"
	case len(name) > 15:
		return fmt.Sprintf("%q is longer than 15 bytes", name)
	case name == "." || name == "..":
		return fmt.Sprintf("%q is not a link name", name)
	case strings.ContainsAny(name, "/: \t\n\v\f\r"):
		return fmt.Sprintf("%q contains '/', ':' or white space", name)
	}
	return ""
}

func (r *Route) validate(l *errorList, p string) {
	network, err := netip.ParsePrefix(r.Network)
	switch {
	case err != nil:
		l.add(0, p+".network", "%q is not a network in CIDR form (10.0.0.0/8)", r.Network)
	case network != network.Masked():
		l.add(0, p+".network", "%q has host bits set: use %s", r.Network, network.Masked())
	}
	if r.Gateway == "" {
		return
	}
	gateway, err := netip.ParseAddr(r.Gateway)
	switch {
	case err != nil:
		l.add(0, p+".gateway", "%q is not an IP address", r.Gateway)
	case network.IsValid() && gateway.Is4() != network.Addr().Is4():
		l.add(0, p+".gateway", "%s and network %s are of different IP families", r.Gateway, r.Network)
	}
}

// isDNSName reports whether s is an RFC 1123 DNS name (letters, digits, hyphens; labels
// of 1..63; at most 253 in all; a trailing dot allowed).
func isDNSName(s string) bool {
	s = strings.TrimSuffix(s, ".")
	return s != "" && len(s) <= 253 && hostnamePattern.MatchString(s)
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
