package netboot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
	"github.com/vishvananda/netlink"

	"github.com/kiln-os/kiln/internal/netnstest"
)

// lab is the veth pair of a test lab: the server's end with labServer, and the
// client's end, up but without an address, as a machine's NIC before DHCP.
type lab struct {
	server, client string
	clientMAC      net.HardwareAddr
}

func newLab(t *testing.T) lab {
	t.Helper()
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetUp(lo); err != nil {
		t.Fatal(err)
	}
	l := lab{server: "pxs0", client: "pxc0"}
	if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: l.client}, PeerName: l.server}); err != nil {
		t.Skipf("no veth links (CONFIG_VETH): %v", err)
	}
	for _, name := range []string{l.server, l.client} {
		link, err := netlink.LinkByName(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := netlink.LinkSetUp(link); err != nil {
			t.Fatal(err)
		}
		if name == l.client {
			l.clientMAC = link.Attrs().HardwareAddr
			continue
		}
		addr, _ := netlink.ParseAddr(labServer.String())
		if err := netlink.AddrAdd(link, addr); err != nil {
			t.Fatal(err)
		}
	}
	return l
}

// startServer opens and serves o, and returns the log and a stop function that checks
// Serve's clean return.
func startServer(t *testing.T, o Options) (*logLines, func()) {
	t.Helper()
	log := &logLines{}
	o.Logf = log.logf
	s, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	waitFor(t, func() bool { return len(log.with("pxe: serving ")) == 1 }, log)
	stop := func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve after cancel: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("Serve did not return after cancel")
		}
	}
	return log, stop
}

func labOptions(t *testing.T, l lab) Options {
	o := goodOptions(t)
	o.Interface = l.server
	o.Range = "10.77.0.100-10.77.0.110"
	return o
}

// dhcpClient is a machine on the client end with its own MAC, as nclient4 sends: raw
// frames, so nothing depends on the client end's addresses.
func dhcpClient(t *testing.T, l lab, mac string) *nclient4.Client {
	t.Helper()
	hw, _ := net.ParseMAC(mac)
	c, err := nclient4.New(l.client, nclient4.WithHWAddr(hw), nclient4.WithTimeout(2*time.Second), nclient4.WithRetry(2))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func asClient(c client) []dhcpv4.Modifier {
	if c.class == "" {
		return nil
	}
	return []dhcpv4.Modifier{
		dhcpv4.WithOption(dhcpv4.OptClassIdentifier(c.class)),
		dhcpv4.WithOption(dhcpv4.OptClientArch(c.arch)),
	}
}

// The full server over a veth: PXE, HTTP Boot and plain clients lease addresses and
// learn their boot file; the file comes over TFTP and HTTP; the log shows it all; a
// cancelled context stops everything.
func TestLabRange(t *testing.T) {
	netnstest.Run(t, func(t *testing.T) {
		l := newLab(t)
		o := labOptions(t, l)
		o.Interface = l.client
		openFails(t, o, "--interface", "pxc0 has no IPv4 address")

		o = labOptions(t, l)
		log, stop := startServer(t, o)
		if want := "pxe: serving kiln.efi (sha256 "; !strings.HasPrefix(log.with("pxe: serving")[0], want) ||
			!strings.HasSuffix(log.with("pxe: serving")[0], ") on pxs0 10.77.0.1/24 dhcp=range tftp=:69 http=:80") {
			t.Errorf("ready line %q", log.with("pxe: serving")[0])
		}
		tests := []struct {
			mac    string
			client client
			file   string
			class  string
			siaddr string
		}{
			{macA, pxe7, "kiln.efi", "PXEClient", "10.77.0.1"},
			{macB, http16, "http://10.77.0.1:80/kiln.efi", "HTTPClient", "0.0.0.0"},
			{macC, plainOS, "http://10.77.0.1:80/kiln.efi", "", "0.0.0.0"}, // the installer's URL, no class
		}
		for _, tt := range tests {
			lease, err := dhcpClient(t, l, tt.mac).Request(context.Background(), asClient(tt.client)...)
			if err != nil {
				t.Fatalf("%s: %v\nlog:\n%s", tt.mac, err, log)
			}
			ack := lease.ACK
			if !labServer.Contains(addrOf(ack.YourIPAddr)) || ack.BootFileName != tt.file || ack.ClassIdentifier() != tt.class ||
				ack.ServerIPAddr.String() != tt.siaddr || len(ack.Router()) != 0 {
				t.Errorf("%s: ACK %s", tt.mac, ack.Summary())
			}
			if again, err := dhcpClient(t, l, tt.mac).Request(context.Background(), asClient(tt.client)...); err != nil ||
				!again.ACK.YourIPAddr.Equal(ack.YourIPAddr) {
				t.Errorf("%s: a second lease %v (%v), want the same address %s", tt.mac, again, err, ack.YourIPAddr)
			}
		}
		fetchBoth(t, log)
		stop()
		for _, want := range []string{
			"pxe: dhcp offer mac=52:54:00:00:00:0a msg=DISCOVER port=67 arch=7 ip=10.77.0.100 file=kiln.efi",
			"pxe: dhcp ack mac=52:54:00:00:00:0a msg=REQUEST port=67 arch=7 ip=10.77.0.100 file=kiln.efi",
			"pxe: dhcp ack mac=52:54:00:00:00:0b msg=REQUEST port=67 arch=16 ip=10.77.0.101 file=http://10.77.0.1:80/kiln.efi",
			"pxe: dhcp ack mac=52:54:00:00:00:0c msg=REQUEST port=67 arch=- ip=10.77.0.102 file=http://10.77.0.1:80/kiln.efi",
		} {
			if len(log.with(want)) == 0 {
				t.Errorf("log lacks %q; it has:\n%s", want, log)
			}
		}
		// Every listener is closed: the ports can be bound again.
		for _, p := range []string{"udp4 10.77.0.1:69", "tcp4 10.77.0.1:80"} {
			network, addr, _ := strings.Cut(p, " ")
			if c, err := listen(network, addr); err != nil {
				t.Errorf("%s still held after Serve returned: %v", p, err)
			} else {
				c.Close()
			}
		}
	})
}

func listen(network, addr string) (io.Closer, error) {
	if network == "tcp4" {
		return net.Listen(network, addr)
	}
	return net.ListenPacket(network, addr)
}

// fetchBoth gets kiln.efi over TFTP and HTTP (with a Range) from the server's address.
func fetchBoth(t *testing.T, log *logLines) {
	t.Helper()
	files, _ := testFiles(t)
	uki := files[BootFile].data
	wt, err := tftpClient(t, "10.77.0.1:69").Receive(BootFile, "octet")
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if _, err := wt.WriteTo(&got); err != nil || !bytes.Equal(got.Bytes(), uki) {
		t.Errorf("TFTP: %d bytes, %v", got.Len(), err)
	}
	req, _ := http.NewRequest("GET", "http://10.77.0.1:80/kiln.efi", nil)
	req.Header.Set("Range", "bytes=0-1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent || string(body) != "MZ" {
		t.Errorf("HTTP Range: %s %q", resp.Status, body)
	}
	waitFor(t, func() bool {
		return len(log.with(fmt.Sprintf("pxe: tftp sent ip=10.77.0.1 file=kiln.efi bytes=%d ", len(uki)))) == 1 &&
			len(log.with(`pxe: http sent ip=10.77.0.1 method=GET file=kiln.efi status=206 bytes=2 range="bytes=0-1" took=`)) == 1
	}, log)
}

// ProxyDHCP over a veth: a PXE client's DISCOVER gets an OFFER without an address, a
// plain client gets nothing, and the boot-server REQUEST on 4011 gets an ACK.
func TestLabProxy(t *testing.T) {
	netnstest.Run(t, func(t *testing.T) {
		l := newLab(t)
		o := labOptions(t, l)
		o.Range, o.Proxy = "", true
		log, stop := startServer(t, o)
		defer stop()
		offer, err := dhcpClient(t, l, macA).DiscoverOffer(context.Background(), asClient(pxe7)...)
		if err != nil {
			t.Fatalf("DiscoverOffer: %v\nlog:\n%s", err, log)
		}
		if !offer.YourIPAddr.IsUnspecified() || offer.BootFileName != BootFile || offer.ClassIdentifier() != "PXEClient" ||
			offer.ServerIPAddr.String() != "10.77.0.1" || offer.Options.Has(dhcpv4.OptionIPAddressLeaseTime) {
			t.Errorf("proxy OFFER %s", offer.Summary())
		}
		hw, _ := net.ParseMAC(macB)
		plain, err := nclient4.New(l.client, nclient4.WithHWAddr(hw), nclient4.WithTimeout(500*time.Millisecond), nclient4.WithRetry(1))
		if err != nil {
			t.Fatal(err)
		}
		defer plain.Close()
		if _, err := plain.DiscoverOffer(context.Background()); !errors.Is(err, nclient4.ErrNoResponse) {
			t.Errorf("plain client: %v, want no response", err)
		}
		ack := bootServerRequest(t, l, macA)
		if ack.MessageType() != dhcpv4.MessageTypeAck || !ack.YourIPAddr.IsUnspecified() || ack.BootFileName != BootFile ||
			ack.ClientIPAddr.String() != "10.77.0.50" {
			t.Errorf("4011 ACK %s", ack.Summary())
		}
		waitFor(t, func() bool {
			return len(log.with("pxe: dhcp offer mac=52:54:00:00:00:0a msg=DISCOVER port=67 arch=7 ip=- file=kiln.efi")) == 1 &&
				len(log.with("pxe: dhcp ignore mac=52:54:00:00:00:0b msg=DISCOVER port=67 arch=- ip=- file=- reason=")) > 0 &&
				len(log.with("pxe: dhcp ack mac=52:54:00:00:00:0a msg=REQUEST port=4011 arch=7 ip=10.77.0.50 file=kiln.efi")) == 1
		}, log)
	})
}

// bootServerRequest sends the PXE client's REQUEST to 10.77.0.1:4011 from 10.77.0.50,
// an address the other DHCP server leased it, in raw frames across the veth. The
// server end learns the client's MAC for that address, as ARP would tell it.
func bootServerRequest(t *testing.T, l lab, mac string) *dhcpv4.DHCPv4 {
	t.Helper()
	server, err := netlink.LinkByName(l.server)
	if err != nil {
		t.Fatal(err)
	}
	if err := netlink.NeighAdd(&netlink.Neigh{LinkIndex: server.Attrs().Index, State: netlink.NUD_PERMANENT,
		IP: net.ParseIP("10.77.0.50"), HardwareAddr: l.clientMAC}); err != nil {
		t.Fatal(err)
	}
	raw, err := nclient4.NewRawUDPConn(l.client, pxeServerPort)
	if err != nil {
		t.Fatal(err)
	}
	// Rebind the raw socket to the client's address, where the ACK comes back.
	conn := nclient4.NewBroadcastUDPConn(raw.(*nclient4.BroadcastRawUDPConn).PacketConn,
		&net.UDPAddr{IP: net.ParseIP("10.77.0.50"), Port: pxeServerPort})
	hw, _ := net.ParseMAC(mac)
	c, err := nclient4.NewWithConn(conn, hw, nclient4.WithTimeout(2*time.Second), nclient4.WithRetry(2))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req, err := dhcpv4.New(append(asClient(pxe7), dhcpv4.WithHwAddr(hw), dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest),
		dhcpv4.WithClientIP(net.ParseIP("10.77.0.50")))...)
	if err != nil {
		t.Fatal(err)
	}
	ack, err := c.SendAndRead(context.Background(), &net.UDPAddr{IP: net.ParseIP("10.77.0.1"), Port: pxeServerPort}, req, nil)
	if err != nil {
		t.Fatalf("REQUEST to port 4011: %v", err)
	}
	return ack
}
