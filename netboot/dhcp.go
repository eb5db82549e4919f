package netboot

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
)

// The UDP ports of DHCP (RFC 2131 4.1) and of the PXE boot server (PXE 2.1, 2.2.3:
// the client sends its boot-server DHCPREQUEST to port 4011).
const (
	dhcpServerPort = 67
	dhcpClientPort = 68
	pxeServerPort  = 4011
)

// Client system architectures (option 93, RFC 4578 2.1, with the IANA registry's
// later entries) that Kiln boots: x64 UEFI over PXE/TFTP (7 is the registry's "EFI BC",
// which x64 firmware sends, 9 "EFI x86-64") and x64 UEFI HTTP Boot (16).
const (
	archEFIBC      iana.Arch = 7
	archEFIX8664   iana.Arch = 9
	archEFIX64HTTP iana.Arch = 16
)

// The vendor classes (option 60) of network boot clients: the PXE spec's "PXEClient"
// and UEFI HTTP Boot's "HTTPClient" (UEFI 2.10, 24.7.2), each followed by ":Arch:…".
const (
	classPXE  = "PXEClient"
	classHTTP = "HTTPClient"
)

// dhcpConfig is what the DHCP decision knows of the server.
type dhcpConfig struct {
	proxy    bool            // ProxyDHCP: never an address
	server   netip.Prefix    // the server's address and the lab's subnet
	httpPort int             // for the HTTP Boot URL
	allow    map[string]bool // MACs answered; nil answers every MAC
}

// decision is the answer to one DHCP message, and what the log line says about it.
type decision struct {
	reply  *dhcpv4.DHCPv4 // nil: stay silent
	event  string         // offer, ack, nak, ignore, release, decline
	addr   netip.Addr     // the client's address in the reply or the message
	arch   string         // option 93 as a number, "-" when absent
	file   string         // the boot file in the reply, "-" when none
	reason string         // why, for ignore, nak, release and decline
}

// bootInfo is what a network boot client is told to load.
type bootInfo struct {
	class string // option 60 in the reply; "" for none
	file  string // the boot file: a TFTP name or an HTTP URL
	tftp  bool   // siaddr names the TFTP server
}

// httpURL is where the HTTP server serves the UKI.
func (cfg *dhcpConfig) httpURL() string {
	return fmt.Sprintf("http://%s/%s", netip.AddrPortFrom(cfg.server.Addr(), uint16(cfg.httpPort)), BootFile)
}

// installerBoot is what a --range lease tells a client that is not network booting: the
// HTTP URL of the UKI, with no vendor class. A netbooted Kiln node leases its address
// from its own DHCP client, and its installer fetches the UKI it runs from there
// (network/BootServerStatus on the node); other clients ignore a boot file they did not
// boot from.
func (cfg *dhcpConfig) installerBoot() *bootInfo {
	return &bootInfo{file: cfg.httpURL()}
}

// decide answers one DHCP message req that arrived on port (67 or 4011). It has no side
// effect but on l (nil in proxy mode), which holds the --range leases.
func decide(cfg *dhcpConfig, l *leases, req *dhcpv4.DHCPv4, port int, now time.Time) decision {
	d := decision{arch: archOf(req), file: "-"}
	if req.OpCode != dhcpv4.OpcodeBootRequest || req.HWType != iana.HWTypeEthernet || len(req.ClientHWAddr) != 6 {
		return d.ignore("not an Ethernet BOOTREQUEST")
	}
	if cfg.allow != nil && !cfg.allow[req.ClientHWAddr.String()] {
		return d.ignore("MAC not in --allow-mac")
	}
	boot, unsupported := cfg.bootFor(req)
	if unsupported != "" {
		return d.ignore(unsupported)
	}
	switch {
	case port == pxeServerPort:
		return cfg.bootServer(d, req, boot)
	case cfg.proxy:
		return cfg.proxyOffer(d, req, boot)
	}
	return cfg.full(d, l, req, boot, now)
}

// bootFor says what req's client is to boot: nil for a client that is not network
// booting (no PXEClient or HTTPClient class), or why the client is not answered.
func (cfg *dhcpConfig) bootFor(req *dhcpv4.DHCPv4) (*bootInfo, string) {
	class := req.ClassIdentifier()
	if !strings.HasPrefix(class, classPXE) && !strings.HasPrefix(class, classHTTP) {
		return nil, ""
	}
	archs := req.ClientArch()
	if len(archs) == 0 {
		return nil, "network boot client without a client architecture (option 93)"
	}
	switch archs[0] {
	case archEFIBC, archEFIX8664:
		return &bootInfo{class: classPXE, file: BootFile, tftp: true}, ""
	case archEFIX64HTTP:
		return &bootInfo{class: classHTTP, file: cfg.httpURL()}, ""
	}
	return nil, fmt.Sprintf("client architecture %d is not x64 UEFI (7, 9 or 16)", archs[0])
}

// proxyOffer is ProxyDHCP on port 67 (PXE 2.1, 2.2.2): a network boot client's
// DISCOVER gets an OFFER with the boot file and no address; everything else is the
// other DHCP server's business.
func (cfg *dhcpConfig) proxyOffer(d decision, req *dhcpv4.DHCPv4, boot *bootInfo) decision {
	switch {
	case boot == nil:
		return d.ignore("not a network boot client (--proxy answers only PXEClient and HTTPClient)")
	case req.MessageType() != dhcpv4.MessageTypeDiscover:
		return d.ignore("--proxy answers only DISCOVER on port 67")
	}
	return cfg.answer(d, "offer", req, replySpec{typ: dhcpv4.MessageTypeOffer, boot: boot})
}

// bootServer answers the PXE client's DHCPREQUEST on port 4011 (PXE 2.1, 2.2.3) with an
// ACK carrying the boot file and no address, in both modes: EDK2 asks there even after
// a full server's OFFER that named the boot file (its "DhcpBinl" offer type).
func (cfg *dhcpConfig) bootServer(d decision, req *dhcpv4.DHCPv4, boot *bootInfo) decision {
	switch {
	case boot == nil:
		return d.ignore("not a network boot client")
	case req.MessageType() != dhcpv4.MessageTypeRequest && req.MessageType() != dhcpv4.MessageTypeInform:
		// PXE 2.1 has the client send a REQUEST; some clients send an INFORM.
		return d.ignore("port 4011 answers only REQUEST and INFORM")
	}
	d.addr = addrOf(req.ClientIPAddr)
	return cfg.answer(d, "ack", req, replySpec{typ: dhcpv4.MessageTypeAck, boot: boot})
}

// replySpec is what a reply carries beyond the server identifier.
type replySpec struct {
	typ   dhcpv4.MessageType
	addr  netip.Addr    // yiaddr; invalid leaves it 0.0.0.0
	lease time.Duration // option 51 when > 0
	mask  bool          // option 1, the lab's subnet mask
	boot  *bootInfo     // option 60, siaddr, file; nil for none
}

// answer builds the reply to req. It never sets a router: the lab has no uplink.
func (cfg *dhcpConfig) answer(d decision, event string, req *dhcpv4.DHCPv4, r replySpec) decision {
	mods := []dhcpv4.Modifier{
		dhcpv4.WithMessageType(r.typ),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(cfg.server.Addr().AsSlice())),
	}
	if r.addr.IsValid() {
		mods = append(mods, dhcpv4.WithYourIP(r.addr.AsSlice()))
		d.addr = r.addr
	}
	if r.lease > 0 {
		mods = append(mods, dhcpv4.WithLeaseTime(uint32(r.lease/time.Second)))
	}
	if r.mask {
		mods = append(mods, dhcpv4.WithNetmask(net.CIDRMask(cfg.server.Bits(), 32)))
	}
	if r.typ == dhcpv4.MessageTypeAck {
		// RFC 2131 table 3: an ACK carries back the request's ciaddr.
		mods = append(mods, dhcpv4.WithClientIP(req.ClientIPAddr))
	}
	if b := r.boot; b != nil {
		// The file goes in the header field and, for clients that read only options,
		// in option 67 too (RFC 2132 9.5).
		mods = append(mods, dhcpv4.WithOption(dhcpv4.OptBootFileName(b.file)))
		if b.class != "" {
			mods = append(mods, dhcpv4.WithOption(dhcpv4.OptClassIdentifier(b.class)))
		}
		if b.tftp {
			mods = append(mods, dhcpv4.WithServerIP(cfg.server.Addr().AsSlice()))
		}
		// PXE 2.1, tables 2-2 and 2-3: replies carry back the client's UUID (option 97).
		if uuid := req.GetOneOption(dhcpv4.OptionClientMachineIdentifier); uuid != nil {
			mods = append(mods, dhcpv4.WithGeneric(dhcpv4.OptionClientMachineIdentifier, uuid))
		}
	}
	reply, err := dhcpv4.NewReplyFromRequest(req, mods...)
	if err != nil {
		return d.ignore("reply not built: " + err.Error())
	}
	if r.boot != nil {
		reply.BootFileName = r.boot.file
		d.file = r.boot.file
	}
	d.reply, d.event = reply, event
	return d
}

func (d decision) ignore(reason string) decision {
	d.reply, d.event, d.reason = nil, "ignore", reason
	return d
}

func archOf(req *dhcpv4.DHCPv4) string {
	archs := req.ClientArch()
	if len(archs) == 0 {
		return "-"
	}
	return fmt.Sprint(uint16(archs[0]))
}

// addrOf converts a packet's IPv4 field; the zero address and garbage are not valid.
func addrOf(ip net.IP) netip.Addr {
	a, ok := netip.AddrFromSlice(ip.To4())
	if !ok || a.IsUnspecified() {
		return netip.Addr{}
	}
	return a
}
