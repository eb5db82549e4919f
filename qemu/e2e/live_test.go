package e2e

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kiln-os/kiln/config"
	"github.com/kiln-os/kiln/initd/events"
	"github.com/kiln-os/kiln/qemu"
)

// The node's link under QEMU user networking, and what the live change gives it: a
// static address beside the DHCP lease (10.0.2.15) in the same subnet, a resolver in it
// (nothing is sent outside the VM's network), a hostname and a sysctl.
const (
	liveLink     = "eth0"
	liveAddress  = "10.0.2.99/24"
	liveResolver = "10.0.2.53"
	liveHostname = "kiln-live"
	liveSysctl   = "net.ipv4.ip_forward"
)

// writeNodeConfig writes the config the node boots with: the generated controlplane
// config with eth0 named (DHCP, as the default does). Naming a link is a change that
// needs a reboot, so the live change starts from a config that names it already.
func writeNodeConfig(t *testing.T, work string) string {
	t.Helper()
	cfg, err := config.Load(filepath.Join(work, "controlplane.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Machine.Network.Interfaces = []config.Interface{{Name: liveLink, DHCP: true}}
	return saveConfig(t, work, "node.yaml", cfg)
}

func saveConfig(t *testing.T, work, name string, cfg *config.Config) string {
	t.Helper()
	path := filepath.Join(work, name)
	if err := config.Save(path, cfg); err != nil {
		t.Fatal(err)
	}
	return path
}

// liveConfigChange is issue 11's "done when" on a running node: one config changes the
// hostname, a sysctl, a static address beside DHCP and a resolver; each change shows in
// the status resources without a reboot and the node stays ready; a change that needs a
// reboot is refused with --mode no-reboot, naming the field; the dry run names the
// changed fields with old and new values and no secret; inspect controllers shows the
// controllers that did it.
func liveConfigChange(t *testing.T, c ctl, vm *qemu.VM, work string) {
	node, err := config.Load(filepath.Join(work, "node.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	node.Machine.Network.Hostname = liveHostname
	node.Machine.Network.Interfaces[0].Addresses = []string{liveAddress}
	node.Machine.Network.Nameservers = []string{liveResolver}
	node.Machine.Sysctls = map[string]string{liveSysctl: "1"}
	live := saveConfig(t, work, "live.yaml", node)
	bootEvents := len(vm.Events())

	dryRunNamesFieldsWithoutSecrets(t, c, work, node, live)
	rebootChangeRefused(t, c, work, node)
	applyLive(t, c, live)
	eventually(t, c, "hostname", []string{"get", "hostnamestatus", "hostname", "-o", "json"}, `"hostname": "`+liveHostname+`"`)
	eventually(t, c, "static address beside DHCP", []string{"list", "addressstatus"}, strings.Split(liveAddress, "/")[0], "10.0.2.15")
	eventually(t, c, "resolver", []string{"get", "resolverstatus", "resolvers", "-o", "json"}, liveResolver)
	eventually(t, c, "sysctl", []string{"get", "sysctlstatus", "sysctls", "-o", "json"}, `"`+liveSysctl+`": "1"`)
	eventually(t, c, "network applied", []string{"get", "networkstatus", "network", "-o", "json"}, `"ready": true`)
	eventually(t, c, "still ready", []string{"get", "machinestatus", "machine", "-o", "json"}, `"ready": true`, `"stage": "running"`)
	for _, e := range vm.Events()[bootEvents:] {
		if e.Type == events.TypeBoot && (e.State == events.StateReboot || e.State == events.StateStarted || e.State == events.StateFailed) {
			t.Errorf("the live change restarted the node: %s", e)
		}
	}
	inspectControllers(t, c)
}

// dryRunNamesFieldsWithoutSecrets dry-runs the live config, and one with a new join
// token: the diff names each field with old and new value, and never a token.
func dryRunNamesFieldsWithoutSecrets(t *testing.T, c ctl, work string, node *config.Config, live string) {
	t.Helper()
	out := c.must("apply-config", "--dry-run", "-f", live)
	for _, want := range []string{
		"machine.network.hostname: (absent) → " + liveHostname,
		"machine.network.interfaces[0].addresses[0]: (absent) → " + liveAddress,
		"machine.network.nameservers[0]: (absent) → " + liveResolver,
		`machine.sysctls["` + liveSysctl + `"]: (absent) → "1"`,
		"applied: dry_run",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run lacks %q:\n%s", want, out)
		}
	}
	oldToken := node.Machine.Token
	retoken := *node
	retoken.Machine.Token = "abcdef.0123456789abcdef"
	out = c.must("apply-config", "--dry-run", "-f", saveConfig(t, work, "retoken.yaml", &retoken))
	if !strings.Contains(out, "machine.token: (redacted) → (redacted)\n") || strings.Contains(out, oldToken) || strings.Contains(out, retoken.Machine.Token) {
		t.Errorf("dry run of a new token shows it, or not its redacted change:\n%s", out)
	}
	if strings.Contains(out, "PRIVATE KEY") {
		t.Errorf("dry run shows a private key:\n%s", out)
	}
}

// rebootChangeRefused applies an install disk with --mode no-reboot: refused, naming the
// field, and the config in force stays.
func rebootChangeRefused(t *testing.T, c ctl, work string, node *config.Config) {
	t.Helper()
	install := *node
	install.Machine.Install.Disk = "/dev/vda"
	out, err := c.run("apply-config", "--mode", "no-reboot", "-f", saveConfig(t, work, "install.yaml", &install))
	if err == nil || !strings.Contains(out, "machine.install.disk") {
		t.Errorf("a machine.install change with --mode no-reboot: err=%v, output lacks the field:\n%s", err, out)
	}
	if out := c.must("get", "machineconfig", "-o", "yaml"); strings.Contains(out, "/dev/vda") {
		t.Errorf("the refused config is in force:\n%s", out)
	}
}

// applyLive applies the live config with --mode no-reboot. The new address and hostname
// give apid a new certificate, and apid restarts to load it: the answer may be lost in
// that restart, so a failed call is checked through the config in force instead.
func applyLive(t *testing.T, c ctl, live string) {
	t.Helper()
	out, err := c.run("apply-config", "--mode", "no-reboot", "-f", live)
	if err == nil {
		if !strings.Contains(out, "applied: no_reboot") || strings.Contains(out, "warning") {
			t.Errorf("live apply:\n%s", out)
		}
		return
	}
	if strings.Contains(out, "reboot") || strings.Contains(out, "InvalidArgument") {
		t.Fatalf("live config refused: %v\n%s", err, out)
	}
	t.Logf("live apply lost its answer (%v); checking the config in force", err)
	eventually(t, c, "live config in force", []string{"get", "machineconfig", "-o", "yaml"}, liveHostname)
}

// inspectControllers checks that the controllers behind the live change are listed with
// their inputs and outputs, and that -o dot draws them.
func inspectControllers(t *testing.T, c ctl) {
	t.Helper()
	eventually(t, c, "inspect controllers", []string{"inspect", "controllers"},
		"NetworkController", "network/AddressStatus",
		"SysctlController", "runtime/SysctlStatus",
		"APICertificateController", "secrets/API",
		"ServiceController", "runtime/ServiceSpec",
		"config/MachineConfig")
	eventually(t, c, "inspect controllers -o dot", []string{"inspect", "controllers", "-o", "dot"},
		"digraph", `"config/MachineConfig" -> "SysctlController";`, `"NetworkController" -> "network/AddressStatus";`)
}

// eventually runs kilnctl until its output holds every want, for up to a minute: apid
// may be restarting for a new certificate.
func eventually(t *testing.T, c ctl, what string, args []string, want ...string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		out, err := c.run(args...)
		if err == nil && containsAll(out, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%s: kilnctl %s never showed %q (last: %v)\n%s", what, strings.Join(args, " "), want, err, out)
			return
		}
		time.Sleep(2 * time.Second)
	}
}

func containsAll(s string, want []string) bool {
	for _, w := range want {
		if !strings.Contains(s, w) {
			return false
		}
	}
	return true
}
