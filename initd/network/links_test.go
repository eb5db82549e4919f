package network

import (
	"net"
	"slices"
	"testing"
)

func TestDefaultInterfaces(t *testing.T) {
	links := []linkFacts{
		{Name: "lo", Kind: "device", Loopback: true, Carrier: true},
		{Name: "eth1", Kind: "device", Carrier: true},
		{Name: "eth0", Kind: "device", Carrier: true},
		{Name: "eth2", Kind: "device", Carrier: false},
		{Name: "veth0", Kind: "veth", Carrier: true},
		{Name: "br0", Kind: "bridge", Carrier: true},
		{Name: "dummy0", Kind: "dummy", Carrier: true},
	}
	if got := physicalLinks(links); !slices.Equal(got, []string{"eth0", "eth1", "eth2"}) {
		t.Errorf("physical %v", got)
	}
	got := defaultInterfaces(links)
	if len(got) != 2 || got[0].Name != "eth0" || got[1].Name != "eth1" || !got[0].DHCP || !got[1].DHCP {
		t.Errorf("default interfaces %+v, want DHCP on eth0 and eth1", got)
	}
}

func TestFirstMAC(t *testing.T) {
	mac := func(last byte) net.HardwareAddr { return net.HardwareAddr{2, 0, 0, 0, 0, last} }
	links := []linkFacts{
		{Name: "lo", Index: 1, Kind: "device", Loopback: true, MAC: net.HardwareAddr{0, 0, 0, 0, 0, 0}},
		{Name: "veth0", Index: 2, Kind: "veth", MAC: mac(2)},
		{Name: "eth1", Index: 4, Kind: "device", MAC: mac(4)},
		{Name: "eth0", Index: 3, Kind: "device", MAC: mac(3)},
	}
	if got := firstMAC(links); !slices.Equal(got, mac(3)) {
		t.Errorf("first MAC %v, want the physical link with the lowest index", got)
	}
	if got := firstMAC(links[:2]); !slices.Equal(got, mac(2)) {
		t.Errorf("without NICs: %v, want the veth's", got)
	}
}
