package netboot

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
)

var (
	labServer = netip.MustParsePrefix("10.77.0.1/24")
	labRange  = addrRange{From: netip.MustParseAddr("10.77.0.100"), To: netip.MustParseAddr("10.77.0.102")}
	t0        = time.Unix(1_700_000_000, 0)
)

const (
	macA = "52:54:00:00:00:0a"
	macB = "52:54:00:00:00:0b"
	macC = "52:54:00:00:00:0c"
	macD = "52:54:00:00:00:0d"
)

// client is how a test machine asks: its vendor class and architecture (option 93).
type client struct {
	class string
	arch  iana.Arch // 0xffff: no option 93
}

var (
	pxe7    = client{"PXEClient:Arch:00007:UNDI:003016", 7}
	pxe9    = client{"PXEClient:Arch:00009:UNDI:003016", 9}
	http16  = client{"HTTPClient:Arch:00016:UNDI:003001", 16}
	bios0   = client{"PXEClient:Arch:00000:UNDI:002001", 0}
	noArch  = client{"PXEClient", 0xffff}
	plainOS = client{}
)

func msg(t testing.TB, typ dhcpv4.MessageType, mac string, c client, mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
	t.Helper()
	hw, err := net.ParseMAC(mac)
	if err != nil {
		t.Fatal(err)
	}
	all := []dhcpv4.Modifier{dhcpv4.WithHwAddr(hw), dhcpv4.WithMessageType(typ)}
	if c.class != "" {
		all = append(all, dhcpv4.WithOption(dhcpv4.OptClassIdentifier(c.class)))
	}
	if c.class != "" && c.arch != 0xffff {
		all = append(all, dhcpv4.WithOption(dhcpv4.OptClientArch(c.arch)))
	}
	m, err := dhcpv4.New(append(all, mods...)...)
	if err != nil {
		t.Fatal(err)
	}
	// What the server decides on is what came over the wire.
	wire, err := dhcpv4.FromBytes(m.ToBytes())
	if err != nil {
		t.Fatal(err)
	}
	return wire
}

func requested(a string) dhcpv4.Modifier {
	return dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.ParseIP(a)))
}

func serverID(a string) dhcpv4.Modifier {
	return dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.ParseIP(a)))
}

func ciaddr(a string) dhcpv4.Modifier { return dhcpv4.WithClientIP(net.ParseIP(a)) }

// want is what a reply must say; "" and 0 fields are not checked, "-" means absent.
type want struct {
	event  string
	typ    dhcpv4.MessageType
	yiaddr string // "0.0.0.0" for none
	siaddr string
	file   string
	class  string // option 60 in the reply, "-" for none
	lease  time.Duration
}

func check(t *testing.T, d decision, w want) {
	t.Helper()
	if d.event != w.event {
		t.Fatalf("event %s (reason %q), want %s", d.event, d.reason, w.event)
	}
	if w.event == "ignore" || w.event == "release" || w.event == "decline" {
		if d.reply != nil {
			t.Fatalf("%s with a reply: %s", w.event, d.reply.Summary())
		}
		return
	}
	r, err := dhcpv4.FromBytes(d.reply.ToBytes())
	if err != nil {
		t.Fatalf("reply does not parse: %v", err)
	}
	if r.OpCode != dhcpv4.OpcodeBootReply || r.MessageType() != w.typ {
		t.Errorf("reply %s %s, want a BOOTREPLY %s", r.OpCode, r.MessageType(), w.typ)
	}
	if got := r.ServerIdentifier(); !got.Equal(net.IP(labServer.Addr().AsSlice())) {
		t.Errorf("server identifier %v", got)
	}
	if r.Options.Has(dhcpv4.OptionRouter) {
		t.Errorf("reply names a router %v: the lab has no uplink", r.Router())
	}
	for field, pair := range map[string][2]string{
		"yiaddr": {r.YourIPAddr.String(), w.yiaddr},
		"siaddr": {r.ServerIPAddr.String(), w.siaddr},
		"file":   {r.BootFileName, w.file},
		"class":  {orDash(r.ClassIdentifier()), w.class},
	} {
		if pair[1] != "" && pair[0] != pair[1] {
			t.Errorf("%s = %q, want %q", field, pair[0], pair[1])
		}
	}
	if w.file != "" && r.Options.Has(dhcpv4.OptionBootfileName) && r.BootFileNameOption() != w.file {
		t.Errorf("option 67 = %q, want %q", r.BootFileNameOption(), w.file)
	}
	if w.file != "" && !r.Options.Has(dhcpv4.OptionBootfileName) {
		t.Errorf("no option 67")
	}
	if got := r.IPAddressLeaseTime(0); got != w.lease {
		t.Errorf("lease time %v, want %v", got, w.lease)
	}
	if w.lease > 0 && net.IP(r.SubnetMask()).String() != "255.255.255.0" {
		t.Errorf("subnet mask %v", r.SubnetMask())
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// One message each, to a fresh server: which clients are answered, and how.
func TestDecideOneMessage(t *testing.T) {
	url := "http://10.77.0.1:8080/kiln.efi"
	proxy := &dhcpConfig{proxy: true, server: labServer, httpPort: 8080}
	full := &dhcpConfig{server: labServer, httpPort: 8080}
	allowB := &dhcpConfig{server: labServer, httpPort: 8080, allow: map[string]bool{macB: true}}
	tests := []struct {
		name string
		cfg  *dhcpConfig
		port int
		req  func(t *testing.T) *dhcpv4.DHCPv4
		want want
	}{
		{"range: PXE arch 7", full, 67, func(t *testing.T) *dhcpv4.DHCPv4 { return msg(t, dhcpv4.MessageTypeDiscover, macA, pxe7) },
			want{"offer", dhcpv4.MessageTypeOffer, "10.77.0.100", "10.77.0.1", "kiln.efi", "PXEClient", leaseTime}},
		{"range: PXE arch 9", full, 67, func(t *testing.T) *dhcpv4.DHCPv4 { return msg(t, dhcpv4.MessageTypeDiscover, macA, pxe9) },
			want{"offer", dhcpv4.MessageTypeOffer, "10.77.0.100", "10.77.0.1", "kiln.efi", "PXEClient", leaseTime}},
		{"range: HTTP arch 16", full, 67, func(t *testing.T) *dhcpv4.DHCPv4 { return msg(t, dhcpv4.MessageTypeDiscover, macA, http16) },
			want{"offer", dhcpv4.MessageTypeOffer, "10.77.0.100", "0.0.0.0", url, "HTTPClient", leaseTime}},
		{"range: BIOS arch 0", full, 67, func(t *testing.T) *dhcpv4.DHCPv4 { return msg(t, dhcpv4.MessageTypeDiscover, macA, bios0) },
			want{event: "ignore"}},
		{"range: PXEClient without option 93", full, 67, func(t *testing.T) *dhcpv4.DHCPv4 { return msg(t, dhcpv4.MessageTypeDiscover, macA, noArch) },
			want{event: "ignore"}},
		// A netbooted node's own DHCP client: an address, and the UKI's URL for its installer.
		{"range: not network booting", full, 67, func(t *testing.T) *dhcpv4.DHCPv4 { return msg(t, dhcpv4.MessageTypeDiscover, macA, plainOS) },
			want{"offer", dhcpv4.MessageTypeOffer, "10.77.0.100", "0.0.0.0", url, "-", leaseTime}},
		{"range: MAC outside --allow-mac", allowB, 67, func(t *testing.T) *dhcpv4.DHCPv4 { return msg(t, dhcpv4.MessageTypeDiscover, macA, pxe7) },
			want{event: "ignore"}},
		{"range: MAC in --allow-mac", allowB, 67, func(t *testing.T) *dhcpv4.DHCPv4 { return msg(t, dhcpv4.MessageTypeDiscover, macB, pxe7) },
			want{"offer", dhcpv4.MessageTypeOffer, "10.77.0.100", "10.77.0.1", "kiln.efi", "PXEClient", leaseTime}},
		{"range: plain MAC outside --allow-mac", allowB, 67, func(t *testing.T) *dhcpv4.DHCPv4 { return msg(t, dhcpv4.MessageTypeDiscover, macA, plainOS) },
			want{event: "ignore"}},
		{"range: OFFER from another server", full, 67, func(t *testing.T) *dhcpv4.DHCPv4 { return msg(t, dhcpv4.MessageTypeOffer, macA, pxe7) },
			want{event: "ignore"}},
		{"range: INFORM", full, 67, func(t *testing.T) *dhcpv4.DHCPv4 {
			return msg(t, dhcpv4.MessageTypeInform, macA, pxe7, ciaddr("10.77.0.50"))
		}, want{"ack", dhcpv4.MessageTypeAck, "0.0.0.0", "10.77.0.1", "kiln.efi", "PXEClient", 0}},
		{"proxy: PXE arch 7", proxy, 67, func(t *testing.T) *dhcpv4.DHCPv4 { return msg(t, dhcpv4.MessageTypeDiscover, macA, pxe7) },
			want{"offer", dhcpv4.MessageTypeOffer, "0.0.0.0", "10.77.0.1", "kiln.efi", "PXEClient", 0}},
		{"proxy: HTTP arch 16", proxy, 67, func(t *testing.T) *dhcpv4.DHCPv4 { return msg(t, dhcpv4.MessageTypeDiscover, macA, http16) },
			want{"offer", dhcpv4.MessageTypeOffer, "0.0.0.0", "0.0.0.0", url, "HTTPClient", 0}},
		{"proxy: BIOS arch 0", proxy, 67, func(t *testing.T) *dhcpv4.DHCPv4 { return msg(t, dhcpv4.MessageTypeDiscover, macA, bios0) },
			want{event: "ignore"}},
		{"proxy: not network booting", proxy, 67, func(t *testing.T) *dhcpv4.DHCPv4 { return msg(t, dhcpv4.MessageTypeDiscover, macA, plainOS) },
			want{event: "ignore"}},
		{"proxy: REQUEST on 67 is the other server's", proxy, 67, func(t *testing.T) *dhcpv4.DHCPv4 {
			return msg(t, dhcpv4.MessageTypeRequest, macA, pxe7, requested("10.77.0.50"), serverID("10.77.0.2"))
		}, want{event: "ignore"}},
		{"proxy: MAC outside --allow-mac", &dhcpConfig{proxy: true, server: labServer, httpPort: 80, allow: map[string]bool{macB: true}}, 67,
			func(t *testing.T) *dhcpv4.DHCPv4 { return msg(t, dhcpv4.MessageTypeDiscover, macA, pxe7) }, want{event: "ignore"}},
		{"proxy: 4011 REQUEST", proxy, 4011, func(t *testing.T) *dhcpv4.DHCPv4 {
			return msg(t, dhcpv4.MessageTypeRequest, macA, pxe7, ciaddr("10.77.0.50"))
		}, want{"ack", dhcpv4.MessageTypeAck, "0.0.0.0", "10.77.0.1", "kiln.efi", "PXEClient", 0}},
		{"range: 4011 REQUEST", full, 4011, func(t *testing.T) *dhcpv4.DHCPv4 {
			return msg(t, dhcpv4.MessageTypeRequest, macA, pxe9, ciaddr("10.77.0.100"))
		}, want{"ack", dhcpv4.MessageTypeAck, "0.0.0.0", "10.77.0.1", "kiln.efi", "PXEClient", 0}},
		{"proxy: 4011 INFORM", proxy, 4011, func(t *testing.T) *dhcpv4.DHCPv4 {
			return msg(t, dhcpv4.MessageTypeInform, macA, pxe7, ciaddr("10.77.0.50"))
		}, want{"ack", dhcpv4.MessageTypeAck, "0.0.0.0", "10.77.0.1", "kiln.efi", "PXEClient", 0}},
		{"proxy: 4011 DISCOVER", proxy, 4011, func(t *testing.T) *dhcpv4.DHCPv4 { return msg(t, dhcpv4.MessageTypeDiscover, macA, pxe7) },
			want{event: "ignore"}},
		{"proxy: 4011 not network booting", proxy, 4011, func(t *testing.T) *dhcpv4.DHCPv4 {
			return msg(t, dhcpv4.MessageTypeRequest, macA, plainOS, ciaddr("10.77.0.50"))
		}, want{event: "ignore"}},
		{"proxy: 4011 BIOS arch 0", proxy, 4011, func(t *testing.T) *dhcpv4.DHCPv4 {
			return msg(t, dhcpv4.MessageTypeRequest, macA, bios0, ciaddr("10.77.0.50"))
		}, want{event: "ignore"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var l *leases
			if !tt.cfg.proxy {
				l = newLeases(labRange, leaseTime)
			}
			check(t, decide(tt.cfg, l, tt.req(t), tt.port, t0), tt.want)
		})
	}
}

// A reply to a PXE client carries back its UUID (option 97), and an ACK its ciaddr.
func TestDecideEchoes(t *testing.T) {
	uuid := append([]byte{0}, make([]byte, 16)...)
	uuid[5] = 0x42
	cfg := &dhcpConfig{proxy: true, server: labServer, httpPort: 80}
	req := msg(t, dhcpv4.MessageTypeRequest, macA, pxe7, ciaddr("10.77.0.50"),
		dhcpv4.WithGeneric(dhcpv4.OptionClientMachineIdentifier, uuid))
	d := decide(cfg, nil, req, pxeServerPort, t0)
	if d.reply == nil {
		t.Fatalf("no reply: %s", d.reason)
	}
	if got := d.reply.GetOneOption(dhcpv4.OptionClientMachineIdentifier); string(got) != string(uuid) {
		t.Errorf("option 97 = %x, want %x", got, uuid)
	}
	if got := d.reply.ClientIPAddr.String(); got != "10.77.0.50" {
		t.Errorf("ciaddr = %s", got)
	}
	if d.reply.TransactionID != req.TransactionID || d.reply.ClientHWAddr.String() != macA {
		t.Errorf("reply xid %s chaddr %s, want %s %s", d.reply.TransactionID, d.reply.ClientHWAddr, req.TransactionID, macA)
	}
}

// step is one message to a --range server that keeps its leases across the steps.
type step struct {
	name  string
	req   func(t *testing.T) *dhcpv4.DHCPv4
	after time.Duration // since t0
	want  want
}

func runSteps(t *testing.T, steps []step) {
	t.Helper()
	cfg := &dhcpConfig{server: labServer, httpPort: 80}
	l := newLeases(labRange, leaseTime)
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			check(t, decide(cfg, l, s.req(t), dhcpServerPort, t0.Add(s.after)), s.want)
		})
	}
}

func discover(mac string, c client, mods ...dhcpv4.Modifier) func(t *testing.T) *dhcpv4.DHCPv4 {
	return func(t *testing.T) *dhcpv4.DHCPv4 { return msg(t, dhcpv4.MessageTypeDiscover, mac, c, mods...) }
}

func request(mac string, c client, mods ...dhcpv4.Modifier) func(t *testing.T) *dhcpv4.DHCPv4 {
	return func(t *testing.T) *dhcpv4.DHCPv4 { return msg(t, dhcpv4.MessageTypeRequest, mac, c, mods...) }
}

func TestDecideLeases(t *testing.T) {
	offerA := want{"offer", dhcpv4.MessageTypeOffer, "10.77.0.100", "10.77.0.1", "kiln.efi", "PXEClient", leaseTime}
	ackA := want{"ack", dhcpv4.MessageTypeAck, "10.77.0.100", "10.77.0.1", "kiln.efi", "PXEClient", leaseTime}
	nak := want{event: "nak", typ: dhcpv4.MessageTypeNak, yiaddr: "0.0.0.0", file: "", class: "-"}
	runSteps(t, []step{
		{"A discovers", discover(macA, pxe7), 0, offerA},
		{"A asks for an address it was not offered", request(macA, pxe7, requested("10.77.0.101"), serverID("10.77.0.1")), 0, nak},
		{"A selects the offer", request(macA, pxe7, requested("10.77.0.100"), serverID("10.77.0.1")), 0, ackA},
		{"A discovers again: the same address", discover(macA, pxe7), time.Second, offerA},
		{"B discovers: the next address", discover(macB, plainOS), 0,
			want{"offer", dhcpv4.MessageTypeOffer, "10.77.0.101", "0.0.0.0", "", "-", leaseTime}},
		{"B selects another server", request(macB, plainOS, requested("10.77.0.99"), serverID("10.77.0.2")), 0, want{event: "ignore"}},
		{"A's booted OS renews (RENEWING: ciaddr)", request(macA, plainOS, ciaddr("10.77.0.100")), time.Minute,
			want{"ack", dhcpv4.MessageTypeAck, "10.77.0.100", "0.0.0.0", "", "-", leaseTime}},
		{"C in INIT-REBOOT, unknown: silence", request(macC, plainOS, requested("10.77.0.102")), 0, want{event: "ignore"}},
		{"A in INIT-REBOOT with a wrong address", request(macA, plainOS, requested("10.77.0.102")), 0, nak},
		{"A in INIT-REBOOT from another network", request(macA, plainOS, requested("192.168.1.5")), 0, nak},
		{"C asks for B's offered address", discover(macC, pxe7, requested("10.77.0.101")), 0,
			want{"offer", dhcpv4.MessageTypeOffer, "10.77.0.102", "10.77.0.1", "kiln.efi", "PXEClient", leaseTime}},
		{"D: the range is exhausted", discover(macD, pxe7), 0, want{event: "ignore"}},
		{"D, after B's offer lapsed, gets B's address", discover(macD, pxe7), 2 * offerHold,
			want{"offer", dhcpv4.MessageTypeOffer, "10.77.0.101", "10.77.0.1", "kiln.efi", "PXEClient", leaseTime}},
		{"B's REQUEST for its lapsed offer", request(macB, plainOS, requested("10.77.0.101"), serverID("10.77.0.1")), 2 * offerHold, nak},
	})
}

func TestDecideReleaseAndDecline(t *testing.T) {
	release := func(mac, addr string) func(t *testing.T) *dhcpv4.DHCPv4 {
		return func(t *testing.T) *dhcpv4.DHCPv4 {
			return msg(t, dhcpv4.MessageTypeRelease, mac, plainOS, ciaddr(addr), serverID("10.77.0.1"))
		}
	}
	decline := func(mac, addr string) func(t *testing.T) *dhcpv4.DHCPv4 {
		return func(t *testing.T) *dhcpv4.DHCPv4 {
			return msg(t, dhcpv4.MessageTypeDecline, mac, plainOS, requested(addr), serverID("10.77.0.1"))
		}
	}
	offer := func(addr string) want {
		return want{"offer", dhcpv4.MessageTypeOffer, addr, "10.77.0.1", "kiln.efi", "PXEClient", leaseTime}
	}
	runSteps(t, []step{
		{"A discovers", discover(macA, pxe7), 0, offer("10.77.0.100")},
		{"A binds", request(macA, pxe7, requested("10.77.0.100"), serverID("10.77.0.1")), 0,
			want{event: "ack", typ: dhcpv4.MessageTypeAck, yiaddr: "10.77.0.100", lease: leaseTime}},
		{"B releases A's address", release(macB, "10.77.0.100"), 0, want{event: "ignore"}},
		{"A releases", release(macA, "10.77.0.100"), 0, want{event: "release"}},
		{"B gets the released address", discover(macB, pxe7), 0, offer("10.77.0.100")},
		{"B declines it", decline(macB, "10.77.0.100"), 0, want{event: "decline"}},
		{"B gets another address", discover(macB, pxe7), 0, offer("10.77.0.101")},
		{"C is not offered the declined address", discover(macC, pxe7), 0, offer("10.77.0.102")},
		{"after a lease time it is offered again", discover(macA, pxe7), leaseTime + time.Second, offer("10.77.0.100")},
	})
}

// Each line of the log has the documented fields in order.
func TestDHCPLogLine(t *testing.T) {
	cfg := &dhcpConfig{server: labServer, httpPort: 80}
	d := decide(cfg, newLeases(labRange, leaseTime), msg(t, dhcpv4.MessageTypeDiscover, macA, pxe7), 67, t0)
	got := d.logFields(msg(t, dhcpv4.MessageTypeDiscover, macA, pxe7), 67)
	if want := "offer mac=52:54:00:00:00:0a msg=DISCOVER port=67 arch=7 ip=10.77.0.100 file=kiln.efi"; got != want {
		t.Errorf("log line\n got %s\nwant %s", got, want)
	}
	d = decide(cfg, newLeases(labRange, leaseTime), msg(t, dhcpv4.MessageTypeDiscover, macA, bios0), 67, t0)
	got = d.logFields(msg(t, dhcpv4.MessageTypeDiscover, macA, bios0), 67)
	if want := `ignore mac=52:54:00:00:00:0a msg=DISCOVER port=67 arch=0 ip=- file=- reason="client architecture 0 is not x64 UEFI (7, 9 or 16)"`; got != want {
		t.Errorf("log line\n got %s\nwant %s", got, want)
	}
}
