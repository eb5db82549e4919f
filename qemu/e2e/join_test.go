package e2e

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kiln-os/kiln/config"
	"github.com/kiln-os/kiln/initd/events"
	"github.com/kiln-os/kiln/qemu"
	"github.com/kiln-os/kiln/qemu/lab"
)

// TestWorkerJoin puts a control plane and a worker on a lab network (issue 14, "Worker
// join"): the worker gets apid's certificate from the control plane's trustd across the
// network with the join token, kilnctl then talks to both with one context (-n cp,worker),
// and a worker with a wrong token is refused and says so in an event.
func TestWorkerJoin(t *testing.T) {
	img := requireImage(t)
	l := lab.ForTest(t)
	work := t.TempDir()
	cpAddr, workerAddr, badAddr := labAddr(t, 10), labAddr(t, 11), labAddr(t, 12)
	c := ctl{t: t, bin: buildKilnctl(t, work), config: filepath.Join(work, "kiln-config"), lab: l, node: cpAddr}
	c.must("gen", "config", "--kubernetes=false", "--name", "e2e", "--endpoint", "https://"+cpAddr+":6443", "--out", work)
	cp, worker := loadConfig(t, work, "controlplane.yaml"), loadConfig(t, work, "worker.yaml")
	staticAddress(cp, cpAddr)
	staticAddress(worker, workerAddr)
	bad := loadConfig(t, work, "worker.yaml")
	staticAddress(bad, badAddr)
	bad.Machine.Token = "aaaaaa.bbbbbbbbbbbbbbbb"

	ctx, cancel := context.WithTimeout(context.Background(), 3*bootTimeout)
	defer cancel()
	vms := map[string]*qemu.VM{}
	boot := func(name string, cfg *config.Config) {
		tap, err := l.AddTap(ctx, strings.TrimPrefix(name, "join-"))
		if err != nil {
			t.Fatal(err)
		}
		file := saveConfig(t, work, name+".yaml", cfg)
		vms[name] = start(t, ctx, img, name, img.cmdline, qemu.WithLabNIC(tap.Netns, tap.Name, tap.MAC),
			qemu.WithExtraArgs("-fw_cfg", "name=opt/kiln/config,file="+file))
	}
	boot("join-cp", cp)
	boot("join-worker", worker)
	for _, name := range []string{"join-cp", "join-worker"} {
		if _, err := waitFor(ctx, vms[name], bootTimeout, readyOrFailed()); err != nil {
			t.Fatalf("%s: %v (serial %s)", name, err, vms[name].LogPath())
		}
		if e := findState(vms[name].Events(), events.TypeBoot, "machined", events.StateFailed); e != nil {
			t.Fatalf("%s failed to boot: %+v", name, e)
		}
	}
	joined, err := waitFor(ctx, vms["join-worker"], time.Minute, qemu.Match(events.TypeInfo, "join", events.StateDone))
	if err != nil {
		t.Fatalf("the worker did not report its join: %v\n%s", err, dump(vms["join-worker"].Events()))
	}
	if joined.Fields["endpoint"] != cp.Cluster.ControlPlane.Endpoint {
		t.Errorf("join event %+v, want the control plane's endpoint", joined)
	}
	// Two VMs at a time on two cores: the one with the wrong token comes after.
	boot("join-bad", bad)
	// The first tries may fail before the worker's link is up (network unreachable); each
	// new outcome is an event, and trustd's refusal is the one that must come.
	refusedByTrustd := func(e events.Event) bool {
		return qemu.Match(events.TypeInfo, "join", events.StateFailed)(e) && strings.Contains(e.Error, "PermissionDenied")
	}
	refused, err := waitFor(ctx, vms["join-bad"], bootTimeout, refusedByTrustd)
	if err != nil {
		t.Fatalf("the worker with a wrong token did not report the refusal: %v\n%s", err, dump(vms["join-bad"].Events()))
	}
	if !strings.Contains(refused.Error, "PermissionDenied") || !strings.Contains(refused.Error, cpAddr) {
		t.Errorf("refusal event %+v, want trustd's PermissionDenied naming %s", refused, cpAddr)
	}
	vms["join-bad"].Kill()

	// One context, both nodes: kilnctl runs inside the lab.
	out := c.must("-n", cpAddr+","+workerAddr, "version")
	for _, node := range []string{cpAddr, workerAddr} {
		if !strings.Contains(out, node+": VERSION ") {
			t.Errorf("no version of %s in:\n%s", node, out)
		}
	}
	// The worker's certificate names the address trustd saw it call from, and nothing else.
	worker1 := c
	worker1.node = workerAddr
	if out := worker1.must("-o", "json", "get", "API", "api", "--namespace", "secrets"); !strings.Contains(out, workerAddr) || strings.Contains(out, cpAddr) {
		t.Errorf("worker's API certificate does not name %s alone:\n%s", workerAddr, out)
	}
}

// loadConfig reads a config gen config wrote.
func loadConfig(t *testing.T, dir, name string) *config.Config {
	t.Helper()
	cfg, err := config.Load(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// labAddr is the lab's nth address as a string.
func labAddr(t *testing.T, n int) string {
	t.Helper()
	a, err := lab.Addr(n)
	if err != nil {
		t.Fatal(err)
	}
	return a.String()
}

// staticAddress gives cfg's eth0 the lab address addr (the lab has no DHCP server here).
func staticAddress(cfg *config.Config, addr string) {
	cfg.Machine.Network.Interfaces = []config.Interface{{Name: "eth0", Addresses: []string{addr + "/24"}}}
}
