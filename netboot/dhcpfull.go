package netboot

import (
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// full is the --range server on port 67 (RFC 2131 4.3). Network boot clients get an
// address and their boot file; other clients get an address and the UKI's HTTP URL
// with no vendor class (installerBoot), so that a machine that netbooted Kiln can lease
// an address from its own DHCP client and its installer knows where the UKI is. Clients with
// an unsupported architecture were turned away before.
func (cfg *dhcpConfig) full(d decision, l *leases, req *dhcpv4.DHCPv4, boot *bootInfo, now time.Time) decision {
	if boot == nil {
		boot = cfg.installerBoot()
	}
	mac := req.ClientHWAddr.String()
	switch req.MessageType() {
	case dhcpv4.MessageTypeDiscover:
		addr, ok := l.offer(mac, addrOf(req.RequestedIPAddress()), now)
		if !ok {
			return d.ignore("--range exhausted: no free address")
		}
		return cfg.answer(d, "offer", req, replySpec{typ: dhcpv4.MessageTypeOffer, addr: addr, lease: l.ttl, mask: true, boot: boot})
	case dhcpv4.MessageTypeRequest:
		return cfg.request(d, l, req, boot, now)
	case dhcpv4.MessageTypeInform:
		// RFC 2131 4.3.5: configuration only, no yiaddr and no lease time.
		d.addr = addrOf(req.ClientIPAddr)
		return cfg.answer(d, "ack", req, replySpec{typ: dhcpv4.MessageTypeAck, mask: true, boot: boot})
	case dhcpv4.MessageTypeRelease:
		d.addr = addrOf(req.ClientIPAddr)
		if !l.release(mac, d.addr) {
			return d.ignore("RELEASE of an address the client does not hold")
		}
		d.event, d.reason = "release", "client released its lease"
		return d
	case dhcpv4.MessageTypeDecline:
		d.addr = addrOf(req.RequestedIPAddress())
		if !l.decline(mac, d.addr, now) {
			return d.ignore("DECLINE of an address the client does not hold")
		}
		d.event, d.reason = "decline", "address in use by another host: not offered for a lease time"
		return d
	}
	return d.ignore("message type " + req.MessageType().String() + " is not for a server")
}

// request answers a DHCPREQUEST (RFC 2131 4.3.2): SELECTING names this server and the
// offered address; INIT-REBOOT asks for an address without naming a server; RENEWING
// and REBINDING carry the address in ciaddr.
func (cfg *dhcpConfig) request(d decision, l *leases, req *dhcpv4.DHCPv4, boot *bootInfo, now time.Time) decision {
	mac := req.ClientHWAddr.String()
	server := addrOf(req.ServerIdentifier())
	if server.IsValid() && server != cfg.server.Addr() {
		return d.ignore("REQUEST for the offer of server " + server.String())
	}
	asked := addrOf(req.RequestedIPAddress())
	if !asked.IsValid() {
		asked = addrOf(req.ClientIPAddr)
	}
	d.addr = asked
	if lease, ok := l.bind(mac, asked, now); ok {
		return cfg.answer(d, "ack", req, replySpec{typ: dhcpv4.MessageTypeAck, addr: asked, lease: lease, mask: true, boot: boot})
	}
	_, known := l.lookup(mac)
	if !server.IsValid() && !known && cfg.server.Masked().Contains(asked) {
		// RFC 2131 4.3.2: a server with no record of the client must remain silent.
		return d.ignore("REQUEST from a client this server has no record of")
	}
	return cfg.nak(d, req, "address not offered to this client")
}

// nak refuses a REQUEST (RFC 2131 table 3: no yiaddr, no boot file, a message).
func (cfg *dhcpConfig) nak(d decision, req *dhcpv4.DHCPv4, reason string) decision {
	reply, err := dhcpv4.NewReplyFromRequest(req,
		dhcpv4.WithMessageType(dhcpv4.MessageTypeNak),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(cfg.server.Addr().AsSlice())),
		dhcpv4.WithOption(dhcpv4.OptMessage(reason)))
	if err != nil {
		return d.ignore("NAK not built: " + err.Error())
	}
	d.reply, d.event, d.reason = reply, "nak", reason
	return d
}
