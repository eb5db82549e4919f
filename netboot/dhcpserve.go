package netboot

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/server4"
)

// dhcpListener is one DHCP socket (port 67 or 4011) and the decision it feeds.
type dhcpListener struct {
	conn   net.PacketConn
	port   int
	cfg    *dhcpConfig
	leases *leases
	logf   func(format string, args ...any)
}

// listenDHCP opens port on iface: bound to the device, so that broadcasts are received
// and sent there only, and with SO_REUSEADDR (as server4 sets it) so that ProxyDHCP can
// share port 67 with the lab's own DHCP server (PXE 2.1, 2.2.2).
func listenDHCP(iface string, port int) (net.PacketConn, error) {
	conn, err := server4.NewIPv4UDPConn(iface, &net.UDPAddr{Port: port})
	if err != nil {
		return nil, flagErr("--interface", "DHCP on %s port %d (needs root: CAP_NET_RAW and CAP_NET_BIND_SERVICE): %w", iface, port, err)
	}
	return conn, nil
}

// serve answers DHCP messages until the socket is closed.
func (s *dhcpListener) serve() error {
	buf := make([]byte, 1500) // one Ethernet frame: DHCP messages are not fragmented
	for {
		n, peer, err := s.conn.ReadFrom(buf)
		if errors.Is(err, net.ErrClosed) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("dhcp port %d: %w", s.port, err)
		}
		req, err := dhcpv4.FromBytes(buf[:n])
		if err != nil {
			s.logf("pxe: dhcp ignore mac=- msg=- port=%d arch=- ip=- file=- reason=%q", s.port, "malformed: "+err.Error())
			continue
		}
		s.handle(req, peer)
	}
}

func (s *dhcpListener) handle(req *dhcpv4.DHCPv4, peer net.Addr) {
	d := decide(s.cfg, s.leases, req, s.port, time.Now())
	if d.reply != nil {
		if _, err := s.conn.WriteTo(d.reply.ToBytes(), replyAddr(req, d.reply, s.port, peer)); err != nil {
			d.event, d.reason = "error", "reply not sent: "+err.Error()
		}
	}
	s.logf("pxe: dhcp %s", d.logFields(req, s.port))
}

// replyAddr is where a reply goes (RFC 2131 4.1): back to a relay through giaddr;
// on port 4011 back to the sender; unicast to a client that has an address (ciaddr),
// except a NAK; broadcast otherwise, since a client without an address cannot answer
// ARP for the address it is being offered.
func replyAddr(req, reply *dhcpv4.DHCPv4, port int, peer net.Addr) net.Addr {
	switch {
	case addrOf(req.GatewayIPAddr).IsValid():
		return &net.UDPAddr{IP: req.GatewayIPAddr, Port: dhcpServerPort}
	case port == pxeServerPort:
		// PXE 2.1, 2.2.3: the client listens on the port it sent from; one that sent
		// from 0.0.0.0 is reached by broadcast on that port.
		if u, ok := peer.(*net.UDPAddr); ok && (u.IP == nil || u.IP.IsUnspecified()) {
			return &net.UDPAddr{IP: net.IPv4bcast, Port: u.Port}
		}
		return peer
	case addrOf(req.ClientIPAddr).IsValid() && reply.MessageType() != dhcpv4.MessageTypeNak:
		return &net.UDPAddr{IP: req.ClientIPAddr, Port: dhcpClientPort}
	}
	return &net.UDPAddr{IP: net.IPv4bcast, Port: dhcpClientPort}
}

// logFields is the log line after "pxe: dhcp " (see the package doc).
func (d decision) logFields(req *dhcpv4.DHCPv4, port int) string {
	ip := "-"
	if d.addr.IsValid() {
		ip = d.addr.String()
	}
	mac := "-"
	if len(req.ClientHWAddr) == 6 {
		mac = req.ClientHWAddr.String()
	}
	line := fmt.Sprintf("%s mac=%s msg=%s port=%d arch=%s ip=%s file=%s", d.event, mac, msgName(req), port, d.arch, ip, d.file)
	if d.reason != "" {
		line += fmt.Sprintf(" reason=%q", d.reason)
	}
	return line
}

// msgName is the message type as one upper-case word (DISCOVER, REQUEST, …).
func msgName(req *dhcpv4.DHCPv4) string {
	t := req.MessageType()
	if t == dhcpv4.MessageTypeNone {
		return "BOOTP"
	}
	if name := t.String(); !strings.ContainsAny(name, " ()") {
		return name
	}
	return fmt.Sprintf("TYPE%d", byte(t))
}
