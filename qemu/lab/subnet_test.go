package lab

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
)

func TestAddr(t *testing.T) {
	tests := []struct {
		n       int
		want    string
		wantErr bool
	}{
		{1, "10.213.0.1", false},
		{2, "10.213.0.2", false},
		{254, "10.213.0.254", false},
		{0, "", true},   // the network address
		{255, "", true}, // the broadcast address
		{-1, "", true},
		{1 << 20, "", true},
	}
	for _, tt := range tests {
		got, err := Addr(tt.n)
		if tt.wantErr {
			if err == nil || !strings.Contains(err.Error(), Subnet) {
				t.Errorf("Addr(%d) = %v, %v; want an error naming %s", tt.n, got, err, Subnet)
			}
			continue
		}
		if err != nil || got.String() != tt.want {
			t.Errorf("Addr(%d) = %v, %v; want %s", tt.n, got, err, tt.want)
		}
	}
	if HostAddr().String() != "10.213.0.1" {
		t.Errorf("HostAddr() = %v", HostAddr())
	}
}

// The subnet is private (RFC 1918), so a lab address can never be a real host's.
func TestSubnetIsPrivate(t *testing.T) {
	p := netip.MustParsePrefix(Subnet)
	if !p.Addr().Is4() || !p.Addr().IsPrivate() || p.Masked() != p {
		t.Errorf("Subnet %s: want a masked private IPv4 prefix", Subnet)
	}
}

func TestCheckHostAddr(t *testing.T) {
	for addr, want := range map[string]string{
		"10.213.0.1":   "",
		"10.213.0.200": "",
		"10.213.0.0":   "network or broadcast",
		"10.213.0.255": "network or broadcast",
		"10.213.1.1":   "outside the lab subnet",
		"192.168.1.1":  "outside the lab subnet",
		"8.8.8.8":      "outside the lab subnet",
		"::1":          "outside the lab subnet",
	} {
		err := checkHostAddr(netip.MustParseAddr(addr))
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: %v", addr, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%s: got %v, want an error with %q", addr, err, want)
		}
	}
}

func TestCheckDest(t *testing.T) {
	tests := []struct {
		addr string
		want error // nil: allowed
	}{
		{"10.213.0.5:50000", nil},
		{"10.213.0.1:69", nil},
		{"127.0.0.1:80", nil},
		{"[::1]:80", nil},
		{"[::ffff:10.213.0.9]:80", nil},
		{"10.213.1.5:50000", ErrOutsideSubnet},
		{"8.8.8.8:53", ErrOutsideSubnet},
		{"[2001:db8::1]:443", ErrOutsideSubnet},
		{"example.com:80", ErrNotLiteral},
		{"localhost:80", ErrNotLiteral},
	}
	for _, tt := range tests {
		err := checkDest(tt.addr)
		if (tt.want == nil) != (err == nil) || (tt.want != nil && !errors.Is(err, tt.want)) {
			t.Errorf("checkDest(%q) = %v, want %v", tt.addr, err, tt.want)
		}
	}
	if err := checkDest("10.213.0.5"); err == nil {
		t.Error("an address without a port passed")
	}
}

func TestCheckListen(t *testing.T) {
	for _, ok := range []string{":0", "0.0.0.0:69", "10.213.0.1:0", "127.0.0.1:8080"} {
		if err := checkListen(ok); err != nil {
			t.Errorf("checkListen(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"192.168.0.1:80", "host:80", "80"} {
		if err := checkListen(bad); err == nil {
			t.Errorf("checkListen(%q) passed", bad)
		}
	}
}

func TestMACFor(t *testing.T) {
	a, b := macFor("vm-a"), macFor("vm-b")
	if a != macFor("vm-a") {
		t.Errorf("macFor is not deterministic")
	}
	if a == b {
		t.Errorf("vm-a and vm-b share MAC %s", a)
	}
	for _, m := range []string{a, b} {
		hw, err := net.ParseMAC(m)
		if err != nil || len(hw) != 6 {
			t.Fatalf("MAC %q: %v", m, err)
		}
		if !strings.HasPrefix(m, "52:54:00:") || hw[0]&2 == 0 || hw[0]&1 != 0 {
			t.Errorf("MAC %s: want 52:54:00:…, locally administered, unicast", m)
		}
		if m == bridgeMAC {
			t.Errorf("MAC %s is the bridge's", m)
		}
	}
}

func TestCheckIfname(t *testing.T) {
	for _, ok := range []string{"vm-a", "tap0", "a", "fifteen-bytes15"} {
		if err := checkIfname(ok); err != nil {
			t.Errorf("checkIfname(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "sixteen-bytes-16", ".", "..", "a/b", "a:1", "a b", "a\tb"} {
		if err := checkIfname(bad); err == nil {
			t.Errorf("checkIfname(%q) passed", bad)
		}
	}
}

func TestStalePid(t *testing.T) {
	tests := []struct {
		name string
		pid  int
		ok   bool
	}{
		{"kiln-lab-1234-1", 1234, true},
		{"kiln-lab-99-17", 99, true},
		{"kiln-lab-1234", 0, false},
		{"kiln-lab-x-1", 0, false},
		{"kiln-lab-0-1", 0, false},
		{"kiln-lab-12-x", 0, false},
		{"other-1234-1", 0, false},
		{"kiln-probe-1-1", 0, false},
	}
	for _, tt := range tests {
		pid, ok := stalePid(tt.name)
		if pid != tt.pid || ok != tt.ok {
			t.Errorf("stalePid(%q) = %d, %v; want %d, %v", tt.name, pid, ok, tt.pid, tt.ok)
		}
	}
}

// The guards refuse before anything touches a namespace, so they need no root.
func TestGuardsRefuseWithoutNamespace(t *testing.T) {
	l := &Lab{name: "kiln-lab-guard-test", logf: t.Logf, taps: map[string]Tap{}}
	if _, err := l.DialContext(t.Context(), "tcp", "192.0.2.1:80"); !errors.Is(err, ErrOutsideSubnet) {
		t.Errorf("dial outside the subnet: %v", err)
	}
	if _, err := l.DialContext(t.Context(), "unix", "/run/x.sock"); err == nil {
		t.Error("dial unix passed")
	}
	if _, err := l.Listen("tcp", "198.51.100.1:80"); !errors.Is(err, ErrOutsideSubnet) {
		t.Errorf("listen outside the subnet: %v", err)
	}
	if err := l.AddHostAddr(t.Context(), netip.MustParseAddr("192.168.7.1")); !errors.Is(err, ErrOutsideSubnet) {
		t.Errorf("host address outside the subnet: %v", err)
	}
	for _, name := range []string{bridgeName, "lo", "much-too-long-name"} {
		if _, err := l.AddTap(t.Context(), name); err == nil {
			t.Errorf("AddTap(%q) passed", name)
		}
	}
}
