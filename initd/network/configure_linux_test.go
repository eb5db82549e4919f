package network

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/server4"
	"github.com/kiln-os/kiln/initd/network/sntp"
	"github.com/kiln-os/kiln/internal/netnstest"
	"github.com/sirupsen/logrus"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// hostnames records what Configure would set as the hostname.
type hostnames struct {
	mu    sync.Mutex
	names []string
}

func (h *hostnames) set(name string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.names = append(h.names, name)
	return nil
}

func (h *hostnames) last() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.names) == 0 {
		return ""
	}
	return h.names[len(h.names)-1]
}

func testOptions(t *testing.T, names *hostnames) Options {
	log := logrus.New()
	log.SetLevel(logrus.DebugLevel)
	return Options{
		Log:         log,
		ResolvConf:  filepath.Join(t.TempDir(), "resolv.conf"),
		DHCPWait:    10 * time.Second,
		CarrierWait: 500 * time.Millisecond,
		SetHostname: names.set,
		SetClock:    func(time.Time) error { t.Error("clock stepped"); return nil },
	}
}

func TestConfigureDHCP(t *testing.T) {
	netnstest.Run(t, func(t *testing.T) {
		client := netnstest.AddVeth(t, "kc0", "ks0", "10.99.0.1/24")
		requests := serveDHCP(t, "ks0", 4*time.Second)
		ctx, cancel := context.WithCancel(context.Background())
		var names hostnames
		opts := testOptions(t, &names)
		start := time.Now()
		n, err := Configure(ctx, Spec{Interfaces: []Interface{{Name: client, DHCP: true}}, TimeDisabled: true}, opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("DHCP link configured in %v", time.Since(start))
		defer func() { cancel(); n.Wait() }()
		assertAddress(t, client, "10.99.0.10/24")
		assertRoute(t, client, "0.0.0.0/0", "10.99.0.1", DHCPMetric)
		conf, _ := os.ReadFile(opts.ResolvConf)
		if !strings.Contains(string(conf), "nameserver 10.99.0.53\n") || !strings.Contains(string(conf), "search kiln.test\n") {
			t.Errorf("resolv.conf:\n%s", conf)
		}
		if got := names.last(); got != "leased-node" {
			t.Errorf("hostname %q, want the lease's", got)
		}
		if !hasStatus(n.Snapshot(), AddressStatus{Link: client, Address: netip.MustParsePrefix("10.99.0.10/24"), Source: SourceDHCP}) {
			t.Errorf("snapshot lacks the DHCP address: %v", n.Snapshot())
		}
		// A 4 s lease is renewed after 2 s; the address must still be there after 5 s.
		time.Sleep(5 * time.Second)
		if got := requests.Load(); got < 2 {
			t.Errorf("%d DHCP requests, want the first and at least one renewal", got)
		}
		assertAddress(t, client, "10.99.0.10/24")
	})
}

func TestConfigureDHCPWithoutServerNamesTheLink(t *testing.T) {
	netnstest.Run(t, func(t *testing.T) {
		client := netnstest.AddVeth(t, "kf0", "kg0", "10.97.0.1/24")
		var names hostnames
		opts := testOptions(t, &names)
		opts.DHCPWait = 2 * time.Second
		start := time.Now()
		_, err := Configure(context.Background(), Spec{Interfaces: []Interface{{Name: client, DHCP: true}}, TimeDisabled: true}, opts)
		if err == nil || !strings.Contains(err.Error(), client) {
			t.Fatalf("error %v, want one naming %s", err, client)
		}
		if took := time.Since(start); took > 8*time.Second {
			t.Errorf("gave up after %v, want about DHCPWait", took)
		}
	})
}

func TestConfigureStatic(t *testing.T) {
	netnstest.Run(t, func(t *testing.T) {
		netnstest.AddVeth(t, "kd0", "kd1", "10.98.0.1/24")
		var names hostnames
		opts := testOptions(t, &names)
		spec := Spec{
			Hostname: "static-node.prod.example",
			Interfaces: []Interface{{
				Name:      "kd0",
				MTU:       1400,
				Addresses: []netip.Prefix{netip.MustParsePrefix("10.98.0.2/24")},
				Routes: []Route{
					{Network: netip.MustParsePrefix("192.0.2.0/24"), Gateway: netip.MustParseAddr("10.98.0.1"), Metric: 50},
					{Network: netip.MustParsePrefix("0.0.0.0/0"), Gateway: netip.MustParseAddr("10.98.0.1")},
				},
			}},
			Nameservers:  []netip.Addr{netip.MustParseAddr("9.9.9.9")},
			TimeDisabled: true,
		}
		var reported []Status
		opts.Report = func(s Status) { reported = append(reported, s) }
		n, err := Configure(context.Background(), spec, opts)
		if err != nil {
			t.Fatal(err)
		}
		assertAddress(t, "kd0", "10.98.0.2/24")
		assertRoute(t, "kd0", "192.0.2.0/24", "10.98.0.1", 50)
		assertRoute(t, "kd0", "0.0.0.0/0", "10.98.0.1", 0)
		if link, _ := netlink.LinkByName("kd0"); link == nil || link.Attrs().MTU != 1400 || link.Attrs().Flags&net.FlagUp == 0 {
			t.Errorf("kd0 not up with MTU 1400: %+v", link)
		}
		if lo, _ := netlink.LinkByName("lo"); lo == nil || lo.Attrs().Flags&net.FlagUp == 0 {
			t.Error("lo is down")
		}
		conf, _ := os.ReadFile(opts.ResolvConf)
		if !strings.Contains(string(conf), "nameserver 9.9.9.9\n") {
			t.Errorf("resolv.conf:\n%s", conf)
		}
		if got := names.last(); got != "static-node" {
			t.Errorf("hostname %q", got)
		}
		want := HostnameStatus{Hostname: "static-node", Domain: "prod.example"}
		if !hasStatus(reported, want) || !hasStatus(n.Snapshot(), want) || !hasStatus(n.Snapshot(), TimeStatus{Disabled: true}) {
			t.Errorf("reported %v", reported)
		}
	})
}

func TestConfigureWithoutConfigNeedsCarrier(t *testing.T) {
	netnstest.Run(t, func(t *testing.T) {
		netnstest.AddVeth(t, "kv0", "kv1", "10.96.0.1/24") // a veth is never chosen by default
		var names hostnames
		_, err := Configure(context.Background(), Spec{TimeDisabled: true}, testOptions(t, &names))
		if err == nil || !strings.Contains(err.Error(), "none found") {
			t.Fatalf("error %v, want ErrNoLinks with no physical link found", err)
		}
	})
}

func TestTimeSyncStepsTheInjectedClock(t *testing.T) {
	netnstest.Run(t, func(t *testing.T) {
		iface, server, opts, stepped := clockNetwork(t, "kt0", "kt1", "10.95.0")
		ctx, cancel := context.WithCancel(context.Background())
		n, err := Configure(ctx, Spec{Interfaces: []Interface{iface}, TimeServers: []string{server}}, opts)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { cancel(); n.Wait() }()
		select {
		case got := <-stepped:
			if off := time.Until(got); off < 59*time.Minute || off > 61*time.Minute {
				t.Errorf("stepped to now%+v, want now+1h", off)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("clock not stepped")
		}
	})
}

// clockNetwork puts a link in subnet (.2 here, .1 on the peer) with an SNTP server an
// hour ahead behind it, and returns options whose clock setter reports each step.
func clockNetwork(t *testing.T, link, peer, subnet string) (Interface, string, Options, chan time.Time) {
	t.Helper()
	if err := setUp("lo"); err != nil {
		t.Fatal(err)
	}
	netnstest.AddVeth(t, link, peer, subnet+".1/24")
	server := serveSNTP(t, time.Hour)
	var names hostnames
	opts := testOptions(t, &names)
	stepped := make(chan time.Time, 1)
	opts.SetClock = func(t time.Time) error { stepped <- t; return nil }
	return Interface{Name: link, Addresses: []netip.Prefix{netip.MustParsePrefix(subnet + ".2/24")}}, server, opts, stepped
}

// serveDHCP answers on iface with 10.99.0.10/24 and returns the count of REQUESTs seen.
func serveDHCP(t *testing.T, iface string, leaseTime time.Duration) *atomic.Int32 {
	var requests atomic.Int32
	handler := func(conn net.PacketConn, _ net.Addr, m *dhcpv4.DHCPv4) {
		replyType := dhcpv4.MessageTypeOffer
		switch m.MessageType() {
		case dhcpv4.MessageTypeDiscover:
		case dhcpv4.MessageTypeRequest:
			requests.Add(1)
			replyType = dhcpv4.MessageTypeAck
		default:
			return
		}
		reply, err := dhcpv4.NewReplyFromRequest(m,
			dhcpv4.WithMessageType(replyType),
			dhcpv4.WithYourIP(net.IPv4(10, 99, 0, 10)),
			dhcpv4.WithNetmask(net.CIDRMask(24, 32)),
			dhcpv4.WithRouter(net.IPv4(10, 99, 0, 1)),
			dhcpv4.WithDNS(net.IPv4(10, 99, 0, 53)),
			dhcpv4.WithOption(dhcpv4.OptDomainName("kiln.test")),
			dhcpv4.WithOption(dhcpv4.OptHostName("leased-node")),
			dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.IPv4(10, 99, 0, 1))),
			dhcpv4.WithLeaseTime(uint32(leaseTime/time.Second)),
		)
		if err != nil {
			t.Error(err)
			return
		}
		// The client has no address to unicast to before it is bound; broadcast always.
		conn.WriteTo(reply.ToBytes(), &net.UDPAddr{IP: net.IPv4bcast, Port: dhcpv4.ClientPort})
	}
	server, err := server4.NewServer(iface, nil, handler)
	if err != nil {
		t.Fatal(err)
	}
	go server.Serve()
	t.Cleanup(func() { server.Close() })
	return &requests
}

// serveSNTP answers SNTP requests on loopback with a clock ahead by ahead.
func serveSNTP(t *testing.T, ahead time.Duration) string {
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	go func() {
		buf := make([]byte, 512)
		for {
			n, peer, err := conn.ReadFrom(buf)
			if err != nil {
				return
			}
			req, err := sntp.Parse(buf[:n])
			if err != nil {
				continue
			}
			now := sntp.TimestampOf(time.Now().Add(ahead))
			reply := sntp.Packet{Version: 4, Mode: sntp.ModeServer, Stratum: 1, Origin: req.Transmit, Receive: now, Transmit: now}
			conn.WriteTo(reply.Marshal(), peer)
		}
	}()
	return conn.LocalAddr().String()
}

func assertAddress(t *testing.T, name, want string) {
	t.Helper()
	link, err := netlink.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	list, err := netlink.AddrList(link, unix.AF_UNSPEC)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range list {
		if a.IPNet.String() == want {
			return
		}
	}
	t.Errorf("%s has no address %s: %v", name, want, list)
}

func assertRoute(t *testing.T, name, dst, gw string, metric int) {
	t.Helper()
	link, err := netlink.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	routes, err := netlink.RouteList(link, unix.AF_INET)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range routes {
		routeDst := "0.0.0.0/0"
		if r.Dst != nil {
			routeDst = r.Dst.String()
		}
		if routeDst == dst && r.Gw.String() == gw && r.Priority == metric {
			return
		}
	}
	t.Errorf("%s has no route %s via %s metric %d: %v", name, dst, gw, metric, routes)
}

func hasStatus(list []Status, want Status) bool {
	for _, s := range list {
		if s.Type() == want.Type() && s.ID() == want.ID() {
			switch want := want.(type) {
			case HostnameStatus, TimeStatus, AddressStatus:
				return s == want
			default:
				return true
			}
		}
	}
	return false
}

// Update changes static addresses, routes, resolvers, the hostname and time servers on a
// running network, without configuring the link again; another set of links is refused.
func TestUpdateAppliesLive(t *testing.T) {
	netnstest.Run(t, func(t *testing.T) {
		netnstest.AddVeth(t, "ku0", "ku1", "10.94.0.1/24")
		var names hostnames
		opts := testOptions(t, &names)
		var mu sync.Mutex
		var forgotten []Status
		opts.Forget = func(s Status) { mu.Lock(); forgotten = append(forgotten, s); mu.Unlock() }
		iface := Interface{Name: "ku0", Addresses: []netip.Prefix{netip.MustParsePrefix("10.94.0.2/24")}}
		ctx, cancel := context.WithCancel(context.Background())
		n, err := Configure(ctx, Spec{Hostname: "before", Interfaces: []Interface{iface}, TimeDisabled: true}, opts)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { cancel(); n.Wait() }()
		iface.Addresses = []netip.Prefix{netip.MustParsePrefix("10.94.0.99/24")}
		iface.Routes = []Route{{Network: netip.MustParsePrefix("192.0.2.0/24"), Gateway: netip.MustParseAddr("10.94.0.1"), Metric: 7}}
		spec := Spec{Hostname: "after", Interfaces: []Interface{iface}, Nameservers: []netip.Addr{netip.MustParseAddr("10.94.0.53")}, TimeDisabled: true}
		if err := n.Update(spec); err != nil {
			t.Fatal(err)
		}
		assertAddress(t, "ku0", "10.94.0.99/24")
		assertRoute(t, "ku0", "192.0.2.0/24", "10.94.0.1", 7)
		if names.last() != "after" {
			t.Errorf("hostname %q, want after", names.last())
		}
		if conf, _ := os.ReadFile(opts.ResolvConf); !strings.Contains(string(conf), "nameserver 10.94.0.53\n") {
			t.Errorf("resolv.conf:\n%s", conf)
		}
		link, _ := netlink.LinkByName("ku0")
		if addrs, _ := netlink.AddrList(link, unix.AF_INET); len(addrs) != 1 {
			t.Errorf("the old static address stayed: %v", addrs)
		}
		mu.Lock()
		if !hasStatus(forgotten, AddressStatus{Link: "ku0", Address: netip.MustParsePrefix("10.94.0.2/24"), Source: SourceStatic}) {
			t.Errorf("forgotten %v lacks the old address", forgotten)
		}
		mu.Unlock()
		spec.Interfaces[0].DHCP = true
		if err := n.Update(spec); !errors.Is(err, ErrRelink) {
			t.Errorf("DHCP turned on: %v, want ErrRelink", err)
		}
	})
}

// Time servers change live: time sync starts on the new servers without configuring the
// links again.
func TestUpdateRestartsTimeSync(t *testing.T) {
	netnstest.Run(t, func(t *testing.T) {
		iface, server, opts, stepped := clockNetwork(t, "kw0", "kw1", "10.93.0")
		ctx, cancel := context.WithCancel(context.Background())
		n, err := Configure(ctx, Spec{Interfaces: []Interface{iface}, TimeDisabled: true}, opts)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { cancel(); n.Wait() }()
		if err := n.Update(Spec{Interfaces: []Interface{iface}, TimeServers: []string{server}}); err != nil {
			t.Fatal(err)
		}
		select {
		case <-stepped:
		case <-time.After(10 * time.Second):
			t.Fatal("clock not stepped after time servers were set")
		}
	})
}
