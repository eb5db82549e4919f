package netctl

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"testing"

	"github.com/sirupsen/logrus/hooks/test"

	"github.com/kiln-os/kiln/config"
	"github.com/kiln-os/kiln/initd/events"
	"github.com/kiln-os/kiln/initd/network"
	"github.com/kiln-os/kiln/initd/resources"
	"github.com/kiln-os/kiln/initd/resources/controller"
)

// fakeNet records what the controller asks of the network.
type fakeNet struct {
	specs   []network.Spec
	updates []network.Spec
	stopped int
	opts    network.Options
}

func (f *fakeNet) configure(ctx context.Context, s network.Spec, o network.Options) (Net, error) {
	f.specs, f.opts = append(f.specs, s), o
	return f, nil
}

func (f *fakeNet) Update(s network.Spec) error {
	if len(s.Interfaces) != len(f.specs[len(f.specs)-1].Interfaces) {
		return network.ErrRelink
	}
	f.updates = append(f.updates, s)
	return nil
}

func (f *fakeNet) Wait() { f.stopped++ }

func publish(t *testing.T, s *resources.Store, sha string, net config.Network) {
	t.Helper()
	cfg := &config.Config{Version: config.Version1Alpha1, Machine: config.Machine{Network: net, Time: config.Time{Disabled: true}}}
	_, err := s.Set(context.Background(), resources.NamespaceConfig, resources.TypeMachineConfig, resources.MachineConfigID, "machined", &resources.MachineConfigSpec{Config: cfg, SHA256: sha})
	if err != nil {
		t.Fatal(err)
	}
}

// reconcile runs both controllers once, the way their inputs would wake them.
func reconcile(t *testing.T, s *resources.Store, c *Controller) {
	t.Helper()
	ctx := context.Background()
	var sc SpecController
	if err := sc.Reconcile(ctx, controller.NewRuntime(s, sc)); err != nil {
		t.Fatal(err)
	}
	if err := c.Reconcile(ctx, controller.NewRuntime(s, c)); err != nil {
		t.Fatal(err)
	}
}

func networkStatus(t *testing.T, s *resources.Store) *resources.NetworkStatusSpec {
	t.Helper()
	res, err := s.Get(resources.NamespaceNetwork, resources.TypeNetworkStatus, resources.NetworkStatusID)
	if err != nil {
		t.Fatal(err)
	}
	return res.Spec.(*resources.NetworkStatusSpec)
}

func TestConfigChangesApplyLiveOrRelink(t *testing.T) {
	log, _ := test.NewNullLogger()
	s := resources.New(resources.Config{})
	fake := &fakeNet{}
	c := &Controller{Store: s, Log: log, Emit: func(events.Event) {}, Configure: fake.configure}
	reconcile(t, s, c) // no config: the default network
	fake.opts.Report(network.AddressStatus{Link: "eth0", Address: netip.MustParsePrefix("10.0.2.15/24"), Source: network.SourceDHCP})
	if len(fake.specs) != 1 || len(fake.specs[0].Interfaces) != 0 || networkStatus(t, s).ConfigSHA256 != "" {
		t.Fatalf("without a config: %+v", fake.specs)
	}
	eth0 := config.Interface{Name: "eth0", DHCP: true}
	publish(t, s, "one", config.Network{Hostname: "a", Interfaces: []config.Interface{eth0}})
	reconcile(t, s, c)
	if len(fake.specs) != 2 || fake.stopped != 1 {
		t.Fatalf("interfaces named: configured %d times, stopped %d, want 2 and 1", len(fake.specs), fake.stopped)
	}
	if n := len(s.List(resources.NamespaceNetwork, resources.TypeAddressStatus)); n != 0 {
		t.Errorf("%d address statuses of the stopped network remain", n)
	}
	eth0.Addresses = []string{"10.0.2.99/24"}
	eth0.Routes = []config.Route{{Network: "192.0.2.0/24", Gateway: "10.0.2.2"}}
	publish(t, s, "two", config.Network{Hostname: "b", Nameservers: []string{"10.0.2.3"}, Interfaces: []config.Interface{eth0}})
	reconcile(t, s, c)
	if len(fake.specs) != 2 || len(fake.updates) != 1 {
		t.Fatalf("a new address and hostname: configured %d times, updated %d, want 2 and 1", len(fake.specs), len(fake.updates))
	}
	got := fake.updates[0]
	if got.Hostname != "b" || got.Nameservers[0] != netip.MustParseAddr("10.0.2.3") || got.Interfaces[0].Addresses[0] != netip.MustParsePrefix("10.0.2.99/24") ||
		got.Interfaces[0].Routes[0].Gateway != netip.MustParseAddr("10.0.2.2") || !got.TimeDisabled {
		t.Errorf("update %+v", got)
	}
	if st := networkStatus(t, s); st.ConfigSHA256 != "two" || !st.Ready {
		t.Errorf("status %+v, want ready for config two", st)
	}
	eth0.Addresses, eth0.Routes = nil, nil
	publish(t, s, "three", config.Network{Hostname: "b", Interfaces: []config.Interface{eth0}})
	reconcile(t, s, c)
	if got := fake.updates[len(fake.updates)-1]; len(got.Interfaces[0].Addresses) != 0 || len(got.Interfaces[0].Routes) != 0 || len(got.Nameservers) != 0 {
		t.Errorf("removed address, route and resolver still applied: %+v", got)
	}
	if n := len(s.List(resources.NamespaceNetwork, resources.TypeAddressSpec)); n != 0 {
		t.Errorf("%d address specs left", n)
	}
}

func TestStatusesArePublishedAsTheController(t *testing.T) {
	log, _ := test.NewNullLogger()
	s := resources.New(resources.Config{})
	fake := &fakeNet{}
	c := &Controller{Store: s, Log: log, Emit: func(events.Event) {}, Configure: fake.configure}
	m := controller.NewManager(s, controller.Config{})
	if err := m.Register(c); err != nil { // claims the status types for the controller
		t.Fatal(err)
	}
	reconcile(t, s, c)
	addr := network.AddressStatus{Link: "eth0", Address: netip.MustParsePrefix("10.0.2.15/24"), Source: network.SourceDHCP}
	fake.opts.Report(addr)
	res, err := s.Get(resources.NamespaceNetwork, resources.TypeAddressStatus, "eth0_10.0.2.15_24")
	if err != nil || res.Owner != "NetworkController" || res.Spec.(*resources.AddressStatusSpec).Source != "dhcp" {
		t.Fatalf("address status %+v, %v", res, err)
	}
	fake.opts.Forget(addr)
	if _, err := s.Get(resources.NamespaceNetwork, resources.TypeAddressStatus, "eth0_10.0.2.15_24"); !errors.Is(err, resources.ErrNotFound) {
		t.Errorf("forgotten address still there: %v", err)
	}
}

func TestNoLinkIsNotAnError(t *testing.T) {
	log, _ := test.NewNullLogger()
	s := resources.New(resources.Config{})
	var tries int
	var emitted []events.Event
	c := &Controller{Store: s, Log: log, Emit: func(e events.Event) { emitted = append(emitted, e) },
		Configure: func(context.Context, network.Spec, network.Options) (Net, error) {
			tries++
			return nil, network.ErrNoLinks
		}}
	reconcile(t, s, c)
	reconcile(t, s, c)
	if tries != 1 || len(emitted) != 1 || emitted[0].State != "absent" || !networkStatus(t, s).Ready {
		t.Errorf("tries %d, events %v, status %+v", tries, emitted, networkStatus(t, s))
	}
}

func TestSpecsFromConfig(t *testing.T) {
	cfg := &config.Config{Machine: config.Machine{Network: config.Network{Hostname: "node1", Nameservers: []string{"10.0.2.3"},
		Interfaces: []config.Interface{{Name: "eth0", Addresses: []string{"192.168.1.10/24"},
			Routes: []config.Route{{Network: "0.0.0.0/0", Gateway: "192.168.1.1"}}}}}}}
	var got []string
	for _, it := range Specs(&resources.MachineConfigSpec{Config: cfg, SHA256: "abc"}) {
		got = append(got, it.typ+"/"+it.id)
	}
	want := "[LinkSpec/eth0 AddressSpec/eth0_192.168.1.10_24 RouteSpec/eth0_0.0.0.0_0_192.168.1.1 ResolverSpec/resolvers TimeServerSpec/timeservers HostnameSpec/hostname]"
	if fmt.Sprint(got) != want {
		t.Errorf("specs %v\nwant  %s", got, want)
	}
	if last := Specs(nil); len(last) != 3 || last[2].spec.(*resources.HostnameSpecSpec).ConfigSHA256 != "" {
		t.Errorf("without a config: %+v", last)
	}
}
