package network

import (
	"net"
	"net/netip"
	"testing"
)

func addrs(s ...string) []netip.Addr {
	var out []netip.Addr
	for _, a := range s {
		out = append(out, netip.MustParseAddr(a))
	}
	return out
}

func TestRenderResolvConf(t *testing.T) {
	got := string(renderResolvConf(ResolverStatus{
		Nameservers: addrs("10.0.0.1", "2001:db8::1", "10.0.0.2", "10.0.0.3"),
		Search:      []string{"a.example", "b.example"},
	}))
	want := "# Written by machined from the machine config and DHCP leases.\n" +
		"nameserver 10.0.0.1\nnameserver 2001:db8::1\nnameserver 10.0.0.2\n" + // glibc reads 3
		"search a.example b.example\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if empty := string(renderResolvConf(ResolverStatus{})); empty != "# Written by machined from the machine config and DHCP leases.\n" {
		t.Errorf("empty: %q", empty)
	}
}

func TestChooseResolvers(t *testing.T) {
	leases := []leaseFacts{
		{Link: "eth0", DNS: addrs("10.0.0.53", "10.0.0.54"), Domain: "lan.example"},
		{Link: "eth1", DNS: addrs("10.0.0.54", "10.1.0.53"), Domain: "lan.example"},
	}
	fromLeases := chooseResolvers(nil, leases)
	if want := addrs("10.0.0.53", "10.0.0.54", "10.1.0.53"); !sameAddrs(fromLeases.Nameservers, want) {
		t.Errorf("from leases: %v, want %v", fromLeases.Nameservers, want)
	}
	if len(fromLeases.Search) != 1 || fromLeases.Search[0] != "lan.example" {
		t.Errorf("search %v", fromLeases.Search)
	}
	fromSpec := chooseResolvers(addrs("1.1.1.1"), leases)
	if !sameAddrs(fromSpec.Nameservers, addrs("1.1.1.1")) {
		t.Errorf("spec nameservers lost to the lease: %v", fromSpec.Nameservers)
	}
	if len(fromSpec.Search) != 1 {
		t.Errorf("spec nameservers dropped the lease's search domain: %v", fromSpec.Search)
	}
}

func sameAddrs(a, b []netip.Addr) bool {
	return sameResolvers(ResolverStatus{Nameservers: a}, ResolverStatus{Nameservers: b})
}

func TestChooseHostname(t *testing.T) {
	mac := net.HardwareAddr{0x52, 0x54, 0x00, 0xab, 0xcd, 0xef}
	leases := []leaseFacts{{Link: "eth0", Domain: "lan.example"}, {Link: "eth1", Hostname: "leased"}}
	for name, c := range map[string]struct {
		spec   string
		leases []leaseFacts
		want   HostnameStatus
	}{
		"spec wins":           {"node-1", leases, HostnameStatus{"node-1", "lan.example"}},
		"spec fqdn":           {"node-1.prod.example", leases, HostnameStatus{"node-1", "prod.example"}},
		"lease hostname":      {"", leases, HostnameStatus{"leased", "lan.example"}},
		"lease fqdn":          {"", []leaseFacts{{Hostname: "h.dhcp.example"}}, HostnameStatus{"h", "dhcp.example"}},
		"mac fallback":        {"", nil, HostnameStatus{"kiln-abcdef", ""}},
		"mac fallback+domain": {"", leases[:1], HostnameStatus{"kiln-abcdef", "lan.example"}},
	} {
		if got := chooseHostname(c.spec, c.leases, mac); got != c.want {
			t.Errorf("%s: %+v, want %+v", name, got, c.want)
		}
	}
	if got := chooseHostname("", nil, nil); got.Hostname != "kiln" {
		t.Errorf("no MAC at all: %q", got.Hostname)
	}
}
