package network

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

func ack(t testing.TB, mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
	m, err := dhcpv4.New(append([]dhcpv4.Modifier{dhcpv4.WithMessageType(dhcpv4.MessageTypeAck)}, mods...)...)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestFactsFromAck(t *testing.T) {
	f, err := factsFromAck("eth0", ack(t,
		dhcpv4.WithYourIP(net.IPv4(10, 0, 0, 10)),
		dhcpv4.WithNetmask(net.CIDRMask(24, 32)),
		dhcpv4.WithRouter(net.IPv4(10, 0, 0, 1)),
		dhcpv4.WithDNS(net.IPv4(10, 0, 0, 53), net.IPv4(0, 0, 0, 0), net.IPv4(10, 0, 0, 53)),
		dhcpv4.WithOption(dhcpv4.OptDomainName("Lan.Example.")),
		dhcpv4.WithOption(dhcpv4.OptHostName("node-7")),
		dhcpv4.WithLeaseTime(600),
	))
	if err != nil {
		t.Fatal(err)
	}
	want := leaseFacts{Link: "eth0", Address: netip.MustParsePrefix("10.0.0.10/24"),
		Router: netip.MustParseAddr("10.0.0.1"), Domain: "lan.example", Hostname: "node-7",
		Lifetime: 10 * time.Minute, Renew: 5 * time.Minute}
	if f.Address != want.Address || f.Router != want.Router || f.Domain != want.Domain ||
		f.Hostname != want.Hostname || f.Lifetime != want.Lifetime || f.Renew != want.Renew {
		t.Errorf("facts %+v, want %+v", f, want)
	}
	if !sameAddrs(f.DNS, addrs("10.0.0.53")) {
		t.Errorf("DNS %v: want the unspecified address and the duplicate dropped", f.DNS)
	}
}

func TestFactsFromAckDefaultsAndRefusals(t *testing.T) {
	f, err := factsFromAck("eth0", ack(t, dhcpv4.WithYourIP(net.IPv4(192, 0, 2, 9)),
		dhcpv4.WithOption(dhcpv4.OptHostName("bad\nnameserver 6.6.6.6")),
		dhcpv4.WithOption(dhcpv4.OptDomainName("-bad-.example"))))
	if err != nil {
		t.Fatal(err)
	}
	if f.Address.Bits() != 32 || f.Lifetime != defaultLeaseTime || f.Renew != defaultLeaseTime/2 {
		t.Errorf("defaults: %+v", f)
	}
	if f.Hostname != "" || f.Domain != "" {
		t.Errorf("invalid names accepted: %q %q", f.Hostname, f.Domain)
	}
	if _, err := factsFromAck("eth0", ack(t)); !errors.Is(err, errNoAddress) {
		t.Errorf("lease without yiaddr: %v", err)
	}
}

func TestValidDomainName(t *testing.T) {
	for name, want := range map[string]bool{
		"node": true, "a.b-c.example": true, "x1": true, strings.Repeat("a", 63): true,
		"": false, "a..b": false, "-a": false, "a-": false, "a b": false, "a_b": false,
		strings.Repeat("a", 64): false, "a\nb": false,
	} {
		if got := validDomainName(name); got != want {
			t.Errorf("validDomainName(%q) = %v", name, got)
		}
	}
}

// FuzzFactsFromAck feeds DHCP packets from the network through the lease checks: whatever
// they hold, the node's name and resolv.conf stay well formed.
func FuzzFactsFromAck(f *testing.F) {
	f.Add(ack(f, dhcpv4.WithYourIP(net.IPv4(10, 0, 0, 10)), dhcpv4.WithDNS(net.IPv4(10, 0, 0, 53)),
		dhcpv4.WithOption(dhcpv4.OptDomainName("lan.example")), dhcpv4.WithOption(dhcpv4.OptHostName("h"))).ToBytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := dhcpv4.FromBytes(b)
		if err != nil {
			return
		}
		facts, err := factsFromAck("eth0", m)
		if err != nil {
			return
		}
		if !facts.Address.Addr().Is4() || facts.Renew <= 0 || facts.Renew >= facts.Lifetime {
			t.Fatalf("facts %+v", facts)
		}
		host := chooseHostname("", []leaseFacts{facts}, nil)
		if host.Hostname == "" || strings.ContainsAny(host.Hostname+host.Domain, " \n\t\x00") {
			t.Fatalf("hostname %+v", host)
		}
		conf := renderResolvConf(chooseResolvers(nil, []leaseFacts{facts}))
		for _, line := range strings.Split(strings.TrimSuffix(string(conf), "\n"), "\n") {
			if !strings.HasPrefix(line, "#") && !strings.HasPrefix(line, "nameserver ") && !strings.HasPrefix(line, "search ") {
				t.Fatalf("resolv.conf line %q", line)
			}
		}
	})
}

// The boot file is kept only when it is an http(s) URL with a host: a TFTP file name,
// control characters or credentials are not where an installer fetches from.
func TestBootURLFromAck(t *testing.T) {
	for _, tc := range []struct {
		option, field, want string
	}{
		{"http://10.213.0.1:80/kiln.efi", "", "http://10.213.0.1:80/kiln.efi"},
		{"", "https://boot.example/kiln.efi", "https://boot.example/kiln.efi"},
		{"http://10.213.0.1/kiln.efi", "kiln.efi", "http://10.213.0.1/kiln.efi"}, // option 67 wins
		{"kiln.efi", "", ""},
		{"tftp://10.0.0.1/kiln.efi", "", ""},
		{"http:///kiln.efi", "", ""},
		{"http://user:pw@10.0.0.1/kiln.efi", "", ""},
		{"http://10.0.0.1/a b", "", ""},
		{"http://10.0.0.1/\nx", "", ""},
		{"http://10.0.0.1/" + strings.Repeat("a", 300), "", ""},
	} {
		mods := []dhcpv4.Modifier{dhcpv4.WithYourIP(net.IPv4(10, 0, 0, 10))}
		if tc.option != "" {
			mods = append(mods, dhcpv4.WithOption(dhcpv4.OptBootFileName(tc.option)))
		}
		m := ack(t, mods...)
		m.BootFileName = tc.field
		f, err := factsFromAck("eth0", m)
		if err != nil {
			t.Fatal(err)
		}
		if f.BootURL != tc.want {
			t.Errorf("option %q, file %q: BootURL %q, want %q", tc.option, tc.field, f.BootURL, tc.want)
		}
	}
}
