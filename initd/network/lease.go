package network

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// defaultLeaseTime stands in when an ACK omits option 51, which RFC 2131 Table 3 says it
// must carry; an hour keeps a sloppy server's client renewing.
const defaultLeaseTime = time.Hour

// Names longer than this do not fit the kernel's hostname (HOST_NAME_MAX, 64).
const maxHostnameLen = 64

// leaseFacts is what a DHCP ACK says about one link, checked: the fields are safe to put
// into the kernel, resolv.conf and status.
type leaseFacts struct {
	Link     string
	Address  netip.Prefix
	Router   netip.Addr // invalid when the lease has none
	DNS      []netip.Addr
	Domain   string
	Hostname string
	Lifetime time.Duration
	Renew    time.Duration // T1, after the lease was bound
	// BootURL is the boot file the server named (option 67, else the BOOTP file field)
	// when it is an http or https URL: where a netbooted node's boot server serves the
	// UKI, for the installer (`kiln pxe serve` names it). "" otherwise.
	BootURL string
}

var errNoAddress = errors.New("lease carries no usable address")

// factsFromAck extracts the lease from ack. Names that are not valid host names (RFC 1123)
// are dropped, not repaired: they come from the network and end up in resolv.conf.
func factsFromAck(link string, ack *dhcpv4.DHCPv4) (leaseFacts, error) {
	addr, ok := unicast4(ack.YourIPAddr)
	if !ok {
		return leaseFacts{}, fmt.Errorf("%w: yiaddr %v", errNoAddress, ack.YourIPAddr)
	}
	f := leaseFacts{Link: link, Address: netip.PrefixFrom(addr, maskBits(ack.SubnetMask()))}
	for _, ip := range ack.Router() {
		if router, ok := unicast4(ip); ok {
			f.Router = router
			break
		}
	}
	for _, ip := range ack.DNS() {
		if ns, ok := unicast4(ip); ok {
			f.DNS = appendNew(f.DNS, ns)
		}
	}
	if domain := strings.TrimSuffix(ack.DomainName(), "."); validDomainName(domain) {
		f.Domain = strings.ToLower(domain)
	}
	if host := strings.TrimSuffix(ack.HostName(), "."); validDomainName(host) && len(host) <= maxHostnameLen {
		f.Hostname = strings.ToLower(host)
	}
	f.Lifetime, f.Renew = leaseTimes(ack)
	f.BootURL = bootURL(ack)
	return f, nil
}

// maxBootURL bounds the boot URL kept from a lease: option 67 holds at most 255 bytes,
// and a longer file field is not a URL the installer fetches.
const maxBootURL = 255

// bootURL is the lease's boot file when it is an absolute http(s) URL with a host and
// nothing that does not belong in one; it comes from the network and is only a hint:
// the installer verifies what it fetches (signature, version) as an upgrade does.
func bootURL(ack *dhcpv4.DHCPv4) string {
	name := ack.BootFileNameOption()
	if name == "" {
		name = ack.BootFileName
	}
	name = strings.TrimRight(name, "\x00")
	if len(name) > maxBootURL || strings.ContainsFunc(name, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return ""
	}
	u, err := url.Parse(name)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return ""
	}
	return u.String()
}

// leaseTimes returns the lease lifetime and T1, defaulting T1 to half the lifetime
// (RFC 2131 §4.4.5) and keeping it inside the lease.
func leaseTimes(ack *dhcpv4.DHCPv4) (lifetime, renew time.Duration) {
	lifetime = ack.IPAddressLeaseTime(defaultLeaseTime)
	if lifetime <= 0 {
		lifetime = defaultLeaseTime
	}
	renew = ack.IPAddressRenewalTime(lifetime / 2)
	if renew <= 0 || renew >= lifetime {
		renew = lifetime / 2
	}
	return lifetime, renew
}

// unicast4 accepts an IPv4 address a host can be given or talk to: not unspecified,
// loopback, link-local, multicast or broadcast.
func unicast4(ip net.IP) (netip.Addr, bool) {
	addr, ok := netip.AddrFromSlice(ip.To4())
	if !ok || !addr.IsGlobalUnicast() {
		return netip.Addr{}, false
	}
	return addr, true
}

// maskBits returns the prefix length of a contiguous mask, 32 for none or a broken one
// (the address alone; the router is then reached on-link).
func maskBits(mask net.IPMask) int {
	ones, bits := mask.Size()
	if bits != 32 || ones == 0 {
		return 32
	}
	return ones
}

// validDomainName accepts dot-separated labels of letters, digits and hyphens, 1 to 63
// bytes each, not starting or ending with a hyphen, 253 bytes in all (RFC 1123 §2.1).
func validDomainName(name string) bool {
	if name == "" || len(name) > 253 {
		return false
	}
	for _, label := range strings.Split(name, ".") {
		if !validLabel(label) {
			return false
		}
	}
	return true
}

func validLabel(label string) bool {
	if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
		return false
	}
	for _, c := range []byte(label) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}
