package podroutes

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func node(name, ip string, cidrs ...string) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.NodeSpec{PodCIDRs: cidrs}}
	if ip != "" {
		n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: name}, {Type: corev1.NodeInternalIP, Address: ip}}
	}
	return n
}

var lab = []netip.Prefix{netip.MustParsePrefix("10.99.0.0/24")}

func TestDesired(t *testing.T) {
	nodes := []*corev1.Node{
		node("cp", "10.99.0.10", "10.244.0.0/24"),
		node("w2", "10.99.0.12", "10.244.2.0/24", "fd00:10:244:2::/64"),
		node("w1", "10.99.0.11", "10.244.1.0/24"),
		node("far", "192.168.7.3", "10.244.3.0/24"),
		node("new", "10.99.0.13"),
		node("noaddr", ""),
	}
	got, skipped := Desired(nodes, "cp", lab)
	want := []Route{
		{netip.MustParsePrefix("10.244.1.0/24"), netip.MustParseAddr("10.99.0.11")},
		{netip.MustParsePrefix("10.244.2.0/24"), netip.MustParseAddr("10.99.0.12")},
	}
	if !slices.Equal(got, want) {
		t.Errorf("routes %v, want %v (own node, IPv6 CIDR, unreachable and unallocated nodes left out)", got, want)
	}
	for name, why := range map[string]string{"far": "none of this node's subnets", "new": "no pod CIDR", "noaddr": "no IPv4 InternalIP"} {
		if !strings.Contains(skipped[name], why) {
			t.Errorf("skipped[%s] = %q, want it to say %q", name, skipped[name], why)
		}
	}
	if _, ok := skipped["cp"]; ok {
		t.Error("the node itself is reported as skipped")
	}
	// The single podCIDR field of older API servers counts too.
	old := node("old", "10.99.0.14")
	old.Spec.PodCIDR = "10.244.4.0/24"
	if got, _ := Desired([]*corev1.Node{old}, "cp", lab); len(got) != 1 || got[0].Dst.String() != "10.244.4.0/24" {
		t.Errorf("spec.podCIDR: %v", got)
	}
}

// fakeTable is a routing table in memory; fail makes one route's change fail.
type fakeTable struct {
	routes []Route
	fail   netip.Prefix
}

func (f *fakeTable) List() ([]Route, error) { return slices.Clone(f.routes), nil }
func (f *fakeTable) Replace(r Route) error {
	if r.Dst == f.fail {
		return errors.New("refused")
	}
	f.routes = slices.DeleteFunc(f.routes, func(h Route) bool { return h.Dst == r.Dst })
	f.routes = append(f.routes, r)
	return nil
}
func (f *fakeTable) Delete(r Route) error {
	if r.Dst == f.fail {
		return errors.New("refused")
	}
	f.routes = slices.DeleteFunc(f.routes, func(h Route) bool { return h == r })
	return nil
}

func route(dst, via string) Route {
	return Route{netip.MustParsePrefix(dst), netip.MustParseAddr(via)}
}

func TestSync(t *testing.T) {
	table := &fakeTable{routes: []Route{
		route("10.244.1.0/24", "10.99.0.11"), // kept
		route("10.244.2.0/24", "10.99.0.20"), // the node moved: replaced
		route("10.244.9.0/24", "10.99.0.19"), // the node left: deleted
	}}
	want := []Route{route("10.244.1.0/24", "10.99.0.11"), route("10.244.2.0/24", "10.99.0.12"), route("10.244.3.0/24", "10.99.0.13")}
	var log []string
	if err := Sync(table, want, func(f string, a ...any) { log = append(log, f) }); err != nil {
		t.Fatal(err)
	}
	got := slices.Clone(table.routes)
	slices.SortFunc(got, func(a, b Route) int { return a.Dst.Addr().Compare(b.Dst.Addr()) })
	if !slices.Equal(got, want) {
		t.Errorf("table %v, want %v", got, want)
	}
	if len(log) != 3 { // two added (one of them the move), one deleted
		t.Errorf("logged %d changes, want 3: %v", len(log), log)
	}
	// Nothing to do the second time.
	log = nil
	if err := Sync(table, want, func(f string, a ...any) { log = append(log, f) }); err != nil || len(log) != 0 {
		t.Errorf("second sync: %v, %v", err, log)
	}
	// A failed route does not stop the others, and the error names it.
	table.fail = netip.MustParsePrefix("10.244.5.0/24")
	err := Sync(table, []Route{route("10.244.5.0/24", "10.99.0.15"), route("10.244.6.0/24", "10.99.0.16")}, func(string, ...any) {})
	if err == nil || !strings.Contains(err.Error(), "10.244.5.0/24") {
		t.Errorf("error %v, want the failed route named", err)
	}
	if !slices.Contains(table.routes, route("10.244.6.0/24", "10.99.0.16")) {
		t.Errorf("the route after the failed one was not added: %v", table.routes)
	}
}
