package network

import (
	"io"
	"net/netip"
	"time"

	"github.com/sirupsen/logrus"
)

// Spec is the node's network as the machine config describes it. It mirrors the config
// types so that this package does not depend on them.
type Spec struct {
	Hostname    string
	Interfaces  []Interface // none: DHCP on every physical link with carrier
	Nameservers []netip.Addr
	// TimeServers are host names or addresses, with an optional ":port".
	TimeServers  []string
	TimeDisabled bool
}

// Interface is one link to configure, named as the kernel names it.
type Interface struct {
	Name      string
	DHCP      bool
	Addresses []netip.Prefix
	Routes    []Route
	MTU       int // 0 keeps the link's MTU
}

// Route is a static route through a gateway on the interface it belongs to.
type Route struct {
	Network netip.Prefix
	Gateway netip.Addr
	Metric  uint32
}

// Defaults applied to zero Options fields.
const (
	DefaultResolvConf  = "/system/resolv.conf"
	DefaultDHCPWait    = 30 * time.Second
	DefaultCarrierWait = 5 * time.Second
	DefaultTimeServer  = "pool.ntp.org"
)

// Options are the node's side of Configure: where to write and how to report.
type Options struct {
	Log        logrus.FieldLogger
	ResolvConf string // path of the resolv.conf to write, DefaultResolvConf if empty
	ProcSys    string // where the links' sysctls are, "/proc/sys" if empty
	// Report is called for every new or changed fact and Forget for one that no longer
	// holds (an expired lease), from any goroutine, one at a time, in order. Either may
	// be nil. They must not call back into the Network.
	Report func(Status)
	Forget func(Status)

	// DHCPWait bounds the wait for DHCP leases; CarrierWait bounds the wait for carrier
	// on links chosen by default.
	DHCPWait    time.Duration
	CarrierWait time.Duration

	// SetHostname and SetClock change the node; nil means unix.Sethostname and
	// clock_settime(CLOCK_REALTIME). Tests inject their own.
	SetHostname func(name string) error
	SetClock    func(t time.Time) error
}

func (o Options) withDefaults() Options {
	if o.Log == nil {
		discard := logrus.New()
		discard.Out = io.Discard
		o.Log = discard
	}
	if o.ResolvConf == "" {
		o.ResolvConf = DefaultResolvConf
	}
	if o.ProcSys == "" {
		o.ProcSys = "/proc/sys"
	}
	if o.Report == nil {
		o.Report = func(Status) {}
	}
	if o.Forget == nil {
		o.Forget = func(Status) {}
	}
	if o.DHCPWait <= 0 {
		o.DHCPWait = DefaultDHCPWait
	}
	if o.CarrierWait <= 0 {
		o.CarrierWait = DefaultCarrierWait
	}
	if o.SetHostname == nil {
		o.SetHostname = setKernelHostname
	}
	if o.SetClock == nil {
		o.SetClock = setRealtimeClock
	}
	return o
}
