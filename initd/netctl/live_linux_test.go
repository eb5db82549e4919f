package netctl

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus/hooks/test"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/kiln-os/kiln/config"
	"github.com/kiln-os/kiln/initd/events"
	"github.com/kiln-os/kiln/initd/resources"
	"github.com/kiln-os/kiln/initd/resources/controller"
	"github.com/kiln-os/kiln/internal/netnstest"
)

// On a real link (a veth in a namespace of its own), a new config changes the hostname,
// the static address, a route and the resolvers live, through both controllers, and the
// statuses say so.
func TestLiveChangeOnARealLink(t *testing.T) {
	netnstest.Run(t, func(t *testing.T) {
		netnstest.AddVeth(t, "kl0", "kl1", "10.92.0.1/24")
		log, _ := test.NewNullLogger()
		store := resources.New(resources.Config{})
		resolvConf := filepath.Join(t.TempDir(), "resolv.conf")
		m := controller.NewManager(store, controller.Config{Log: log})
		for _, c := range []controller.Controller{SpecController{}, &Controller{Store: store, Log: log, Emit: func(events.Event) {}, ResolvConf: resolvConf}} {
			if err := m.Register(c); err != nil {
				t.Fatal(err)
			}
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go m.Run(ctx)

		link := config.Interface{Name: "kl0", Addresses: []string{"10.92.0.2/24"}}
		publish(t, store, "one", config.Network{Hostname: "one", Interfaces: []config.Interface{link}})
		waitReady(t, store, "one")
		link.Addresses = []string{"10.92.0.99/24"}
		link.Routes = []config.Route{{Network: "192.0.2.0/24", Gateway: "10.92.0.1", Metric: 50}}
		publish(t, store, "two", config.Network{Hostname: "two", Nameservers: []string{"10.92.0.53"}, Interfaces: []config.Interface{link}})
		waitReady(t, store, "two")

		if name, _ := os.Hostname(); name != "two" {
			t.Errorf("hostname %q, want two", name)
		}
		if conf, _ := os.ReadFile(resolvConf); !strings.Contains(string(conf), "nameserver 10.92.0.53\n") {
			t.Errorf("resolv.conf:\n%s", conf)
		}
		kl0, _ := netlink.LinkByName("kl0")
		addrs, _ := netlink.AddrList(kl0, unix.AF_INET)
		if len(addrs) != 1 || addrs[0].IPNet.String() != "10.92.0.99/24" {
			t.Errorf("addresses on kl0: %v, want only 10.92.0.99/24", addrs)
		}
		for typ, id := range map[string]string{resources.TypeAddressStatus: "kl0_10.92.0.99_24", resources.TypeRouteStatus: "kl0_192.0.2.0_24_10.92.0.1",
			resources.TypeHostnameStatus: resources.HostnameStatusID, resources.TypeResolverStatus: resources.ResolverStatusID} {
			if _, err := store.Get(resources.NamespaceNetwork, typ, id); err != nil {
				t.Errorf("status %s/%s: %v", typ, id, err)
			}
		}
		if _, err := store.Get(resources.NamespaceNetwork, resources.TypeAddressStatus, "kl0_10.92.0.2_24"); err == nil {
			t.Error("the removed address still has a status")
		}
	})
}

func waitReady(t *testing.T, store *resources.Store, sha string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if res, err := store.Get(resources.NamespaceNetwork, resources.TypeNetworkStatus, resources.NetworkStatusID); err == nil {
			st := res.Spec.(*resources.NetworkStatusSpec)
			if st.ConfigSHA256 == sha && (st.Ready || st.Error != "") {
				if st.Error != "" {
					t.Fatalf("config %s: %s", sha, st.Error)
				}
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("config %s not applied within 20s", sha)
}
