package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	reflection "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	"github.com/kiln-os/kiln/api/machine"
	"github.com/kiln-os/kiln/config"
	"github.com/kiln-os/kiln/initd/events"
	"github.com/kiln-os/kiln/qemu"
	"github.com/kiln-os/kiln/qemu/lab"
)

// ctl runs the kilnctl binary against one node with one kilnctl config file; with lab set
// it runs inside the lab network's namespace, where the lab's nodes are.
type ctl struct {
	t      *testing.T
	bin    string
	config string
	node   string
	lab    *lab.Lab
}

func (c ctl) run(args ...string) (string, error) {
	c.t.Helper()
	return runKilnctl(c, 2*time.Minute, args...)
}

func (c ctl) must(args ...string) string {
	c.t.Helper()
	out, err := c.run(args...)
	if err != nil {
		c.t.Fatalf("kilnctl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func buildKilnctl(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "kilnctl")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/kiln-os/kiln/cmd/kilnctl").CombinedOutput()
	if err != nil {
		t.Fatalf("build kilnctl: %v\n%s", err, out)
	}
	return bin
}

// trustdPort is the port of addr, host:port.
func trustdPort(t *testing.T, addr string) int {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	fmt.Sscan(port, &n)
	return n
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// after matches the events that come after the first n: the events of a later boot of
// the same VM (WaitEvent looks at each event once, in order).
func after(n int, match func(events.Event) bool) func(events.Event) bool {
	seen := 0
	return func(e events.Event) bool {
		seen++
		return seen > n && match(e)
	}
}

func readyOrFailed() func(events.Event) bool {
	return qemu.Any(qemu.Match(events.TypeBoot, "machined", events.StateReady), qemu.Match(events.TypeBoot, "machined", events.StateFailed))
}

func waitBoot(t *testing.T, ctx context.Context, vm *qemu.VM, from int) {
	t.Helper()
	e, err := waitFor(ctx, vm, bootTimeout, after(from, readyOrFailed()))
	if err != nil {
		t.Fatalf("no ready: %v (serial %s)", err, vm.LogPath())
	}
	if e.State != events.StateReady {
		t.Fatalf("boot failed: %s (serial %s)", e.Error, vm.LogPath())
	}
}

// TestMachineAPI is issue 6 end to end over QEMU user networking: a node without a config
// waits in maintenance mode, takes its config over the insecure API, boots to ready, keeps
// the config across a reboot, and then answers kilnctl by role.
func TestMachineAPI(t *testing.T) {
	img := requireImage(t)
	work := t.TempDir()
	c := ctl{t: t, bin: buildKilnctl(t, work), config: filepath.Join(work, "kiln-config")}
	c.node = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	port := c.node[strings.LastIndexByte(c.node, ':')+1:]
	var hostPort int
	fmt.Sscan(port, &hostPort)
	trustdAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	c.must("gen", "config", "--kubernetes=false", "--name", "e2e", "--endpoint", "https://10.0.2.15:6443", "--out", work)
	nodeConfig := writeNodeConfig(t, work)
	disk := filepath.Join(work, "disk.raw")
	copySparse(t, artifact(t, img, "disk"), disk)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	vm := start(t, ctx, img, "api", img.cmdline, qemu.WithDisk(disk),
		qemu.WithUserNet(qemu.Forward{HostPort: hostPort, GuestPort: 50000}, qemu.Forward{HostPort: trustdPort(t, trustdAddr), GuestPort: 50001}),
		qemu.WithTPM(filepath.Join(work, "tpm")))

	// 1. Maintenance mode, then the config over the insecure API, then ready.
	m, err := waitFor(ctx, vm, bootTimeout, qemu.Any(qemu.Match(events.TypeInfo, "maintenance", events.StateWaiting), qemu.Failed))
	if err != nil || m.State != events.StateWaiting {
		t.Fatalf("no maintenance mode: %v %+v (serial %s)", err, m, vm.LogPath())
	}
	out := c.must("--insecure", "version")
	if !strings.Contains(out, m.Fields["fingerprint"]) {
		t.Errorf("kilnctl --insecure did not show the fingerprint %s the node announced", m.Fields["fingerprint"])
	}
	if _, err := c.run("--fingerprint", m.Fields["fingerprint"], "version"); err != nil {
		t.Errorf("kilnctl --fingerprint with the announced fingerprint: %v", err)
	}
	if _, err := c.run("--fingerprint", strings.Repeat("0", 64), "version"); err == nil {
		t.Error("kilnctl accepted a node whose certificate does not match the pinned fingerprint")
	}
	if _, err := c.run("--insecure", "services"); err == nil {
		t.Error("services answered in maintenance mode")
	}
	// Issue 12 (hole 9): the config holds the join token and CA keys, so kilnctl sends it
	// only to the node whose fingerprint the node itself announced.
	if out, err := c.run("--insecure", "apply-config", "-f", nodeConfig); err == nil || !strings.Contains(out, "--fingerprint") {
		t.Errorf("kilnctl sent secrets to an unpinned node: err=%v\n%s", err, out)
	}
	c.must("--fingerprint", m.Fields["fingerprint"], "apply-config", "-f", nodeConfig)
	waitBoot(t, ctx, vm, 0)
	if e := findEvent(vm.Events(), events.TypeInfo, "config"); e == nil || e.Fields["source"] != "api" {
		t.Errorf("config event %+v, want source api", e)
	}

	// 2. An admin runs every command.
	adminCommands(t, c, vm)

	// Issue 11: a config change applied live, observed through the status resources.
	t.Run("LiveConfigChange", func(t *testing.T) {
		live := c
		live.t = t
		liveConfigChange(t, live, vm, work)
	})

	// 4. An invalid config is refused with its field path; the node keeps its config.
	invalidConfigs(t, c, work)

	// 3. Roles and the TLS layer.
	readerDenied(t, c, work)
	tlsRefusals(t, c, work)
	reflectionForAdminsOnly(t, c, work)

	// Issue 17: diagnostics, service stop/start and health, by role.
	t.Run("Diagnostics", func(t *testing.T) {
		diag := c
		diag.t = t
		diagnostics(t, diag, work)
	})

	// Issue 12 (hole 1): the join token yields no certificate kilnctl accepts for the node.
	t.Run("ForgedNameCertificateRefused", func(t *testing.T) {
		forged := c
		forged.t = t
		forgedNameRefused(t, forged, work, trustdAddr)
	})

	// 1 (cont.). After a reboot the config comes from STATE.
	n := len(vm.Events())
	c.must("reboot")
	waitBoot(t, ctx, vm, n)
	var src string
	for _, e := range vm.Events()[n:] {
		if e.Type == events.TypeInfo && e.Name == "config" {
			src = e.Fields["source"]
		}
	}
	if src != "state" {
		t.Errorf("after the reboot the config came from %q, want state", src)
	}

	// Reset wipes STATE: the next boot is back in maintenance mode.
	n = len(vm.Events())
	c.must("reset", "--wipe-state", "--wipe-ephemeral", "--reboot")
	if _, err := waitFor(ctx, vm, bootTimeout, after(n, qemu.Match(events.TypeInfo, "maintenance", events.StateWaiting))); err != nil {
		t.Errorf("no maintenance mode after reset: %v", err)
	}
	vm.Kill()
}

func adminCommands(t *testing.T, c ctl, vm *qemu.VM) {
	t.Helper()
	if out := c.must("version", "-o", "json"); !strings.Contains(out, "kernel") {
		t.Errorf("version: %s", out)
	}
	for _, svc := range []string{"apid", "trustd"} {
		if out := c.must("services"); !strings.Contains(out, svc) {
			t.Errorf("services does not list %s", svc)
		}
	}
	c.must("service", "restart", "trustd")
	// The whole ring: the boot logs more than a screenful after the config line.
	if out := c.must("logs", "machined"); !strings.Contains(out, "machine config loaded") {
		t.Errorf("machined's log lacks the config line")
	}
	if out := c.must("dmesg", "--tail", "20"); strings.Count(out, "\n") < 5 {
		t.Errorf("dmesg printed %d lines", strings.Count(out, "\n"))
	}
	if out := c.must("events", "--tail", "-1"); !strings.Contains(out, "ready") || !strings.Contains(out, "EarlyMounts") {
		t.Errorf("events does not stream the boot")
	}
	if out := c.must("get", "machinestatus", "machine", "-o", "json"); !strings.Contains(out, `"ready"`) {
		t.Errorf("machinestatus: %s", out)
	}
	if out := c.must("list", "addressstatus"); !strings.Contains(out, "10.0.2.15") {
		t.Errorf("addressstatus does not show the DHCP address")
	}
	if out := c.must("get", "machineconfig", "-o", "yaml"); strings.Contains(out, "PRIVATE KEY") {
		t.Errorf("the config resource leaks a private key")
	}
	wctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	watch := exec.CommandContext(wctx, c.bin, "--kiln-config", c.config, "-n", c.node, "--context", "e2e", "watch", "service")
	watchOut, _ := watch.CombinedOutput() // ends when the context kills it
	if !strings.Contains(string(watchOut), "apid") {
		t.Errorf("watch service printed %q", truncate(string(watchOut), 500))
	}
	if out := c.must("pcrs", "--pcrs", "11"); !strings.Contains(out, "11") {
		t.Errorf("pcrs: %s", out)
	}
	// A quote from swtpm over PCRs 0-11, checked by kilnctl against a fresh nonce.
	if out := c.must("pcrs", "--pcrs", "0-11", "--quote"); !strings.Contains(out, "quote: verified") {
		t.Errorf("pcrs --quote: %s", out)
	}
	if out := c.must("apply-config", "--dry-run", "-f", filepath.Join(filepath.Dir(c.config), "controlplane.yaml")); strings.Contains(out, "error") {
		t.Errorf("dry run: %s", out)
	}
}

func invalidConfigs(t *testing.T, c ctl, work string) {
	t.Helper()
	good, err := os.ReadFile(filepath.Join(work, "controlplane.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct{ from, to, path string }{
		"wrong type":    {"type: controlplane", "type: [controlplane]", "machine.type"},
		"unknown field": {"type: controlplane", "type: controlplane\n  tpye: x", "machine.tpye"},
		"bad CIDR":      {"type: controlplane", "type: controlplane\n  network:\n    interfaces:\n      - interface: eth0\n        addresses: [10.0.0.1/33]", "addresses[0]"},
	}
	for name, tc := range cases {
		bad := strings.Replace(string(good), tc.from, tc.to, 1)
		path := filepath.Join(work, strings.ReplaceAll(name, " ", "-")+".yaml")
		os.WriteFile(path, []byte(bad), 0o600)
		out, err := c.run("apply-config", "-f", path)
		if err == nil || !strings.Contains(out, tc.path) {
			t.Errorf("%s: kilnctl apply-config err=%v, output lacks %q:\n%s", name, err, tc.path, out)
		}
	}
	if out := c.must("get", "machineconfig", "-o", "json"); !strings.Contains(out, `"source"`) {
		t.Errorf("config resource after rejected configs: %s", out)
	}
	if out := c.must("version"); out == "" {
		t.Error("node not answering after rejected configs")
	}
}

func readerDenied(t *testing.T, c ctl, work string) {
	t.Helper()
	c.must("gen", "cert", "--role", config.RoleReader, "--cn", "reader", "--ttl", "1h", "--ca-from", filepath.Join(work, "controlplane.yaml"), "--merge")
	reader := func(args ...string) (string, error) {
		return c.run(append([]string{"--context", "reader"}, args...)...)
	}
	for _, ok := range [][]string{{"version"}, {"services"}, {"get", "machinestatus", "machine"}} {
		if out, err := reader(ok...); err != nil {
			t.Errorf("reader %v: %v\n%s", ok, err, out)
		}
	}
	for _, denied := range [][]string{{"reboot"}, {"apply-config", "-f", filepath.Join(work, "controlplane.yaml")}, {"reset", "--wipe-state"}} {
		out, err := reader(denied...)
		if err == nil || !strings.Contains(strings.ToLower(out), "permission") && !strings.Contains(out, "os:") {
			t.Errorf("reader %v was not denied: %v\n%s", denied, err, out)
		}
	}
}

// tlsRefusals dials apid with certificates it must refuse in the handshake.
func tlsRefusals(t *testing.T, c ctl, work string) {
	t.Helper()
	cp, err := config.Load(filepath.Join(work, "controlplane.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	other, _ := config.GenerateSecrets(now)
	foreignCrt, foreignKey, _ := config.IssueClientCert(other.OSCA, "mallory", []string{config.RoleAdmin}, time.Hour, now)
	expiredCrt, expiredKey, _ := config.IssueClientCert(cp.Machine.CA, "late", []string{config.RoleAdmin}, time.Hour, now.Add(-48*time.Hour))
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM([]byte(cp.Machine.CA.Crt))
	for name, pair := range map[string][2][]byte{"another CA": {foreignCrt, foreignKey}, "expired": {expiredCrt, expiredKey}, "no certificate": {}} {
		cfg := &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS13}
		if pair[0] != nil {
			cert, err := tls.X509KeyPair(pair[0], pair[1])
			if err != nil {
				t.Fatal(err)
			}
			cfg.Certificates = []tls.Certificate{cert}
		}
		if err := versionCall(c.node, cfg); err == nil {
			t.Errorf("%s: apid answered", name)
		} else {
			t.Logf("%s: refused: %v", name, err)
		}
	}
}

func versionCall(node string, cfg *tls.Config) error {
	conn, err := grpc.NewClient(node, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err = machine.NewMachineServiceClient(conn).Version(ctx, &machine.VersionRequest{})
	return err
}

// reflectionForAdminsOnly lists services through standard gRPC server reflection, as
// grpcurl does: an admin may, a reader may not.
func reflectionForAdminsOnly(t *testing.T, c ctl, work string) {
	t.Helper()
	cp, err := config.Load(filepath.Join(work, "controlplane.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM([]byte(cp.Machine.CA.Crt))
	list := func(role string) ([]string, error) {
		crt, key, _ := config.IssueClientCert(cp.Machine.CA, "grpcurl", []string{role}, time.Hour, time.Now())
		cert, _ := tls.X509KeyPair(crt, key)
		conn, err := grpc.NewClient(c.node, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: roots, ServerName: "127.0.0.1", Certificates: []tls.Certificate{cert}})))
		if err != nil {
			return nil, err
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		stream, err := reflection.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
		if err != nil {
			return nil, err
		}
		if err := stream.Send(&reflection.ServerReflectionRequest{MessageRequest: &reflection.ServerReflectionRequest_ListServices{}}); err != nil {
			return nil, err
		}
		resp, err := stream.Recv()
		if err != nil {
			return nil, err
		}
		var names []string
		for _, s := range resp.GetListServicesResponse().GetService() {
			names = append(names, s.GetName())
		}
		return names, nil
	}
	names, err := list(config.RoleAdmin)
	if err != nil || !strings.Contains(strings.Join(names, ","), "kiln.machine.v1.MachineService") {
		t.Errorf("admin reflection: %v %v", names, err)
	}
	if _, err := list(config.RoleReader); status.Code(err) != codes.PermissionDenied {
		t.Errorf("reader reflection: %v, want PermissionDenied", err)
	}
}
