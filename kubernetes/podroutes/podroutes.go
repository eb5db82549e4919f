// Package podroutes is the pod-routes program of the kube multi-call binary: it makes the
// pods of every node reachable from every other node when the nodes share one link (a
// lab bridge, a rack's switch), with no overlay. Each node's bridge CNI hands out
// addresses from the node's pod CIDR (spec.podCIDRs, which the controller manager
// allocates); pod-routes, on every node, keeps one kernel route per other node: that
// node's pod CIDR via its InternalIP. This is flannel's "host-gw" backend's idea, built on
// the node objects the cluster already has.
//
// The routes it owns carry their own routing protocol number (Protocol), so it removes
// its stale routes and never touches the ones the node's network configuration made.
// Nodes whose InternalIP is not on one of this node's subnets are skipped and logged: they
// need a router or an overlay, which this does not provide.
package podroutes

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
)

// Protocol marks the routes pod-routes owns (rtm_protocol). Values up to RTPROT_STATIC (4)
// are the kernel's; 77 is not among the daemons' numbers in iproute2's rt_protos.
const Protocol netlink.RouteProtocol = 77

// Route is one pod CIDR through the node that holds it.
type Route struct {
	Dst netip.Prefix
	Via netip.Addr
}

func (r Route) String() string { return r.Dst.String() + " via " + r.Via.String() }

// Desired are the routes for nodes (all the cluster's) seen from the node named self with
// the IPv4 subnets local: one per pod CIDR of every other node whose InternalIP is on a
// local subnet, sorted. skipped names the other nodes left out and why.
func Desired(nodes []*corev1.Node, self string, local []netip.Prefix) (routes []Route, skipped map[string]string) {
	skipped = map[string]string{}
	for _, n := range nodes {
		if n.Name == self {
			continue
		}
		via, ok := internalIPv4(n)
		if !ok {
			skipped[n.Name] = "no IPv4 InternalIP yet"
			continue
		}
		if !slices.ContainsFunc(local, func(p netip.Prefix) bool { return p.Contains(via) }) {
			skipped[n.Name] = fmt.Sprintf("InternalIP %s is on none of this node's subnets %v", via, local)
			continue
		}
		cidrs := n.Spec.PodCIDRs
		if len(cidrs) == 0 && n.Spec.PodCIDR != "" {
			cidrs = []string{n.Spec.PodCIDR}
		}
		if len(cidrs) == 0 {
			skipped[n.Name] = "no pod CIDR allocated yet"
			continue
		}
		for _, c := range cidrs {
			p, err := netip.ParsePrefix(c)
			if err != nil || !p.Addr().Is4() {
				continue // an IPv6 pod CIDR: the bridge CNI here is IPv4 only
			}
			routes = append(routes, Route{Dst: p.Masked(), Via: via})
		}
	}
	slices.SortFunc(routes, func(a, b Route) int { return a.Dst.Addr().Compare(b.Dst.Addr()) })
	return routes, skipped
}

func internalIPv4(n *corev1.Node) (netip.Addr, bool) {
	for _, a := range n.Status.Addresses {
		if a.Type != corev1.NodeInternalIP {
			continue
		}
		if ip, err := netip.ParseAddr(a.Address); err == nil && ip.Is4() {
			return ip, true
		}
	}
	return netip.Addr{}, false
}

// Table is the kernel's main routing table as pod-routes sees it: only its own routes.
type Table interface {
	List() ([]Route, error)
	Replace(Route) error
	Delete(Route) error
}

// Sync makes table hold exactly want: replaces every wanted route (a node's new address
// moves its route) and deletes the owned routes no longer wanted. It goes on past a
// failed route and returns every failure.
func Sync(table Table, want []Route, logf func(string, ...any)) error {
	have, err := table.List()
	if err != nil {
		return fmt.Errorf("list pod routes: %w", err)
	}
	var errs []error
	for _, r := range want {
		if slices.Contains(have, r) {
			continue
		}
		if err := table.Replace(r); err != nil {
			errs = append(errs, fmt.Errorf("add route %s: %w", r, err))
			continue
		}
		logf("route %s added", r)
	}
	for _, r := range have {
		if slices.ContainsFunc(want, func(w Route) bool { return w.Dst == r.Dst }) {
			continue // replaced above, or already right
		}
		if err := table.Delete(r); err != nil {
			errs = append(errs, fmt.Errorf("delete route %s: %w", r, err))
			continue
		}
		logf("route %s deleted", r)
	}
	return errors.Join(errs...)
}

// Kernel is the main routing table through netlink.
type Kernel struct{}

func (Kernel) List() ([]Route, error) {
	list, err := netlink.RouteListFiltered(unix.AF_INET, &netlink.Route{Protocol: Protocol, Table: unix.RT_TABLE_MAIN},
		netlink.RT_FILTER_PROTOCOL|netlink.RT_FILTER_TABLE)
	if err != nil {
		return nil, err
	}
	routes := make([]Route, 0, len(list))
	for _, r := range list {
		if r.Dst == nil {
			continue
		}
		dst, ok1 := netip.AddrFromSlice(r.Dst.IP.To4())
		via, ok2 := netip.AddrFromSlice(r.Gw.To4())
		ones, _ := r.Dst.Mask.Size()
		if ok1 && ok2 {
			routes = append(routes, Route{Dst: netip.PrefixFrom(dst, ones), Via: via})
		}
	}
	return routes, nil
}

func (Kernel) Replace(r Route) error { return netlink.RouteReplace(kernelRoute(r)) }
func (Kernel) Delete(r Route) error  { return netlink.RouteDel(kernelRoute(r)) }

func kernelRoute(r Route) *netlink.Route {
	return &netlink.Route{Dst: &net.IPNet{IP: r.Dst.Addr().AsSlice(), Mask: net.CIDRMask(r.Dst.Bits(), 32)},
		Gw: r.Via.AsSlice(), Protocol: Protocol, Table: unix.RT_TABLE_MAIN}
}

// LocalSubnets are the node's global IPv4 subnets.
func LocalSubnets() ([]netip.Prefix, error) {
	addrs, err := netlink.AddrList(nil, unix.AF_INET)
	if err != nil {
		return nil, err
	}
	var out []netip.Prefix
	for _, a := range addrs {
		if a.Scope != unix.RT_SCOPE_UNIVERSE || a.IPNet == nil {
			continue
		}
		ip, ok := netip.AddrFromSlice(a.IP.To4())
		ones, _ := a.Mask.Size()
		if ok {
			out = append(out, netip.PrefixFrom(ip, ones).Masked())
		}
	}
	return out, nil
}

// Main runs pod-routes: --kubeconfig (the kubelet's: the node's identity may list and
// watch nodes), --node-name, --healthz (loopback address of /healthz: 200 once the last
// sync succeeded), --resync.
func Main(args []string) int {
	fs := flag.NewFlagSet("pod-routes", flag.ContinueOnError)
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig to watch the nodes with")
	self := fs.String("node-name", "", "this node's name in the cluster")
	healthz := fs.String("healthz", "127.0.0.1:10266", "address of the /healthz endpoint")
	resync := fs.Duration("resync", 30*time.Second, "how often the routes are checked without a change of the nodes")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if *kubeconfig == "" || *self == "" {
		fmt.Fprintln(os.Stderr, "pod-routes: --kubeconfig and --node-name are required")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx, *kubeconfig, *self, *healthz, *resync); err != nil {
		fmt.Fprintln(os.Stderr, "pod-routes:", err)
		return 1
	}
	return 0
}

func run(ctx context.Context, kubeconfig, self, healthz string, resync time.Duration) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return fmt.Errorf("kubeconfig %s: %w", kubeconfig, err)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	var health syncHealth
	ln, err := net.Listen("tcp", healthz)
	if err != nil {
		return fmt.Errorf("healthz: %w", err)
	}
	go http.Serve(ln, &health)

	factory := informers.NewSharedInformerFactory(client, resync)
	nodes := factory.Core().V1().Nodes()
	changed := make(chan struct{}, 1)
	poke := func(any) {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	nodes.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: poke, DeleteFunc: poke,
		UpdateFunc: func(_, n any) { poke(n) }})
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), nodes.Informer().HasSynced) {
		return ctx.Err()
	}
	skippedBefore := map[string]string{}
	tick := time.NewTicker(resync)
	defer tick.Stop()
	for {
		list, err := nodes.Lister().List(labels.Everything())
		if err == nil {
			var local []netip.Prefix
			if local, err = LocalSubnets(); err == nil {
				want, skipped := Desired(list, self, local)
				for name, why := range skipped {
					if skippedBefore[name] != why {
						log.Printf("node %s: no route: %s", name, why)
					}
				}
				skippedBefore = skipped
				err = Sync(Kernel{}, want, log.Printf)
			}
		}
		health.set(err)
		if err != nil {
			log.Printf("sync: %v", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		case <-tick.C:
		}
	}
}

// syncHealth answers /healthz with the last sync's outcome.
type syncHealth struct {
	mu     sync.Mutex
	synced bool
	err    error
}

func (h *syncHealth) set(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.synced, h.err = true, err
}

func (h *syncHealth) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case !h.synced:
		http.Error(w, "not synced yet", http.StatusServiceUnavailable)
	case h.err != nil:
		http.Error(w, h.err.Error(), http.StatusServiceUnavailable)
	default:
		fmt.Fprintln(w, "ok")
	}
}
