package network

import (
	"net"
	"net/netip"
	"time"
)

// Status is one fact about the node's network, reported for the resource store. Type
// names the resource type and ID the resource within it.
type Status interface {
	Type() string
	ID() string
}

// Address sources.
const (
	SourceStatic = "static"
	SourceDHCP   = "dhcp"
)

// LinkStatus is the state of one link.
type LinkStatus struct {
	Name    string
	Index   int
	MAC     net.HardwareAddr
	Up      bool
	Carrier bool
	MTU     int
}

// AddressStatus is one address on a link.
type AddressStatus struct {
	Link    string
	Address netip.Prefix
	Source  string // SourceStatic or SourceDHCP
}

// RouteStatus is one route installed on a link.
type RouteStatus struct {
	Link    string
	Network netip.Prefix
	Gateway netip.Addr
	Metric  uint32
	Source  string
}

// HostnameStatus is the node's name.
type HostnameStatus struct {
	Hostname string
	Domain   string
}

// ResolverStatus is what resolv.conf says.
type ResolverStatus struct {
	Nameservers []netip.Addr
	Search      []string
}

// BootServerStatus is the boot file URL a link's DHCP server named (leaseFacts.BootURL):
// where a netbooted node's installer can fetch the UKI it runs.
type BootServerStatus struct {
	Link string
	URL  string
}

// TimeStatus is the state of time sync.
type TimeStatus struct {
	Disabled bool
	Synced   bool
	Server   string
	Offset   time.Duration // measured before the clock was stepped
	Error    string        // the last attempt's error, empty after a sync
}

func (LinkStatus) Type() string       { return "network.LinkStatus" }
func (AddressStatus) Type() string    { return "network.AddressStatus" }
func (RouteStatus) Type() string      { return "network.RouteStatus" }
func (HostnameStatus) Type() string   { return "network.HostnameStatus" }
func (ResolverStatus) Type() string   { return "network.ResolverStatus" }
func (TimeStatus) Type() string       { return "time.Status" }
func (BootServerStatus) Type() string { return "network.BootServerStatus" }

func (s LinkStatus) ID() string       { return s.Name }
func (s AddressStatus) ID() string    { return s.Link + "/" + s.Address.String() }
func (s BootServerStatus) ID() string { return s.Link }
func (s RouteStatus) ID() string {
	return s.Link + "/" + s.Network.String() + "/" + s.Gateway.String()
}
func (HostnameStatus) ID() string { return "hostname" }
func (ResolverStatus) ID() string { return "resolvers" }
func (TimeStatus) ID() string     { return "node" }
