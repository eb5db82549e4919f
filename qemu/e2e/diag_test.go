package e2e

import (
	"archive/tar"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kiln-os/kiln/config"
)

// diagnostics runs issue 17's diagnostics and health against the booted node: each
// command with the least role it needs, and with the role below it (refused, naming the
// role it needs); the JSON of processes, mounts and disks holds the known entries; a
// stopped trustd fails health by name, and starting it again restores the check.
func diagnostics(t *testing.T, c ctl, work string) {
	for _, role := range []string{config.RoleReader, config.RoleOperator} {
		name := "diag-" + strings.TrimPrefix(role, "os:")
		c.must("gen", "cert", "--role", role, "--cn", name, "--ttl", "1h", "--ca-from", filepath.Join(work, "controlplane.yaml"), "--merge")
	}
	as := func(role string, args ...string) (string, error) {
		return c.run(append([]string{"--context", "diag-" + role}, args...)...)
	}
	mustAs := func(role string, args ...string) string {
		t.Helper()
		out, err := as(role, args...)
		if err != nil {
			t.Fatalf("%s: kilnctl %v: %v\n%s", role, args, err, out)
		}
		return out
	}

	for _, args := range [][]string{{"processes"}, {"memory"}, {"mounts"}, {"disks"}, {"netstat"},
		{"dmesg", "--since", "1h"}, {"logs", "machined", "--since", "10m"}} {
		mustAs("reader", args...)
	}
	// The user network has no time server to answer: time reports what sync found, or
	// that it has not run.
	if out, err := as("reader", "time"); err != nil && !strings.Contains(out, "TimeStatus") {
		t.Errorf("time: %v\n%s", err, out)
	}
	for _, args := range [][]string{{"ls", "/etc"}, {"read", "/etc/os-release"}, {"service", "restart", "trustd"}} { // hostdeps:node
		mustAs("operator", args...)
		if out, err := as("reader", args...); err == nil || !strings.Contains(out, "os:operator") {
			t.Errorf("reader ran %v: %v\n%s", args, err, out)
		}
	}
	for _, path := range []string{"/system/state", "/run/kiln/apid", "/proc/1/root/system/state"} {
		if out, err := as("operator", "ls", path); err == nil || !strings.Contains(out, "forbidden path") || strings.Contains(out, "certificate's role") {
			t.Errorf("ls %s was not refused: %v\n%s", path, err, out)
		}
	}

	var procs struct {
		Processes []struct {
			Pid     int    `json:"pid"`
			Command string `json:"command"`
		} `json:"processes"`
	}
	decode(t, mustAs("reader", "processes", "-o", "json"), &procs)
	if len(procs.Processes) == 0 || procs.Processes[0].Pid != 1 || !strings.Contains(procs.Processes[0].Command, "init") {
		t.Errorf("PID 1 is not machined (/sbin/init): %+v", procs.Processes[:min(1, len(procs.Processes))])
	}
	var mounts struct {
		Mounts []struct {
			MountPoint string `json:"mount_point"`
			FsType     string `json:"fs_type"`
			ReadOnly   bool   `json:"read_only"`
		} `json:"mounts"`
	}
	decode(t, mustAs("reader", "mounts", "-o", "json"), &mounts)
	var root, varMounted bool
	for _, m := range mounts.Mounts {
		root = root || m.MountPoint == "/" && m.FsType == "squashfs" && m.ReadOnly
		varMounted = varMounted || m.MountPoint == "/var"
	}
	if !root || !varMounted {
		t.Errorf("mounts: / squashfs read-only %v, /var %v", root, varMounted)
	}
	var disks struct {
		Disks []struct {
			Name       string `json:"name"`
			Boot       bool   `json:"boot"`
			Partitions []struct {
				Label string `json:"label"`
			} `json:"partitions"`
		} `json:"disks"`
	}
	decode(t, mustAs("reader", "disks", "-o", "json"), &disks)
	for _, d := range disks.Disks {
		hasESP := false
		for _, p := range d.Partitions {
			hasESP = hasESP || p.Label == "EFI"
		}
		if hasESP != d.Boot {
			t.Errorf("disk %s: holds the ESP %v, marked boot %v", d.Name, hasESP, d.Boot)
		}
	}

	// This VM boots the kernel directly (no UKI, no Secure Boot): the checks of the signed
	// boot cannot pass here, so the test asserts the ones that can, by name.
	healthy := func() map[string]string {
		out, _ := as("reader", "health", "-o", "json")
		var h struct {
			Checks []struct{ Name, Verdict, Reason string }
		}
		decode(t, out[:strings.LastIndex(out, "}")+1], &h)
		verdicts := map[string]string{}
		for _, c := range h.Checks {
			verdicts[c.Name] = c.Verdict + ": " + c.Reason
		}
		return verdicts
	}
	if v := healthy(); !strings.HasPrefix(v["boot ready"], "PASS") || !strings.HasPrefix(v["services healthy"], "PASS") {
		t.Errorf("health on a good node: %v", v)
	}
	if out, err := as("reader", "service", "stop", "trustd"); err == nil || !strings.Contains(out, "os:operator") {
		t.Errorf("reader stopped trustd: %v\n%s", err, out)
	}
	mustAs("operator", "service", "stop", "trustd")
	waitCheck(t, healthy, "services healthy", "FAIL", "trustd is stopped")
	if out, err := as("reader", "health"); err == nil || !strings.Contains(out, "trustd is stopped") {
		t.Errorf("health with trustd stopped: %v\n%s", err, out)
	}
	mustAs("operator", "service", "start", "trustd")
	waitCheck(t, healthy, "services healthy", "PASS", "trustd")

	supportBundle(t, c, work)
	patchAndEdit(t, c, work, as)
}

// patchAndEdit is issue 17's patch and edit against the booted node: an operator is
// refused (ApplyConfiguration is os:admin's) and the error names the role; an admin's
// patch and edit (a scripted $KILN_EDITOR) apply live, the secrets put back from the file
// gen config wrote. They change a sysctl: a new hostname would re-issue the API
// certificate and restart apid under the tests that follow.
func patchAndEdit(t *testing.T, c ctl, work string, as func(role string, args ...string) (string, error)) {
	t.Helper()
	const sysctl = "net.ipv4.tcp_keepalive_time"
	secrets := filepath.Join(work, "controlplane.yaml")
	patch := `{"machine":{"sysctls":{"` + sysctl + `":"600"}}}`
	if out, err := as("operator", "patch", "machineconfig", "--patch", patch, "--secrets-from", secrets); err == nil || !strings.Contains(out, "os:admin") {
		t.Errorf("an operator patched the config: %v\n%s", err, out)
	}
	c.must("patch", "machineconfig", "--patch", patch, "--secrets-from", secrets)
	eventually(t, c, "patched sysctl", []string{"get", "sysctlstatus", "sysctls", "-o", "json"}, `"`+sysctl+`": "600"`)
	t.Setenv("KILN_EDITOR", `sed -i s/"600"/"700"/`)
	if out, err := as("operator", "edit", "machineconfig", "--secrets-from", secrets); err == nil || !strings.Contains(out, "os:admin") {
		t.Errorf("an operator edited the config: %v\n%s", err, out)
	}
	c.must("edit", "machineconfig", "--secrets-from", secrets)
	eventually(t, c, "edited sysctl", []string{"get", "sysctlstatus", "sysctls", "-o", "json"}, `"`+sysctl+`": "700"`)
}

// supportBundle is issue 17's support bundle taken by an admin: every section is there
// for the node, and no secret of the node's config (the join token, a CA key) appears in
// any file of it.
func supportBundle(t *testing.T, c ctl, work string) {
	t.Helper()
	bundle := filepath.Join(work, "support.tar.gz")
	c.must("support", "--output", bundle)
	files := readTarGz(t, bundle)
	dir := strings.NewReplacer(":", "_").Replace(c.node) + "/"
	for _, name := range []string{"version.json", "services.json", "resources.yaml", "events.txt", "dmesg.txt", "processes.json",
		"memory.json", "mounts.json", "disks.json", "netstat.json", "health.txt", "logs/machined.log", "logs/apid.log", "logs/trustd.log"} {
		if len(files[dir+name]) == 0 {
			t.Errorf("bundle lacks %s%s (has %d files)", dir, name, len(files))
		}
	}
	// A direct boot cannot pass every health check: that section fails, and says why.
	t.Logf("the bundle's errors.txt:\n%s", files[dir+"errors.txt"])
	if !strings.Contains(string(files[dir+"resources.yaml"]), "MachineConfig") {
		t.Errorf("resources.yaml has no MachineConfig")
	}
	cfg, err := config.Load(filepath.Join(work, "node.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	secrets := map[string]string{"machine.token": cfg.Machine.Token, "machine.ca.key": cfg.Machine.CA.Key, "cluster.ca.key": cfg.Cluster.CA.Key}
	for what, secret := range secrets {
		// Any 40 bytes of a secret (a PEM key's body is base64 lines) give it away.
		probe := strings.TrimSpace(secret)
		if lines := strings.Split(probe, "\n"); len(lines) > 2 {
			probe = lines[1]
		}
		if len(probe) < 16 {
			t.Fatalf("%s too short to look for: %q", what, probe)
		}
		for name, data := range files {
			if strings.Contains(string(data), probe) {
				t.Errorf("the support bundle's %s holds %s", name, what)
			}
		}
	}
}

func readTarGz(t *testing.T, path string) map[string][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	files := map[string][]byte{}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		if files[hdr.Name], err = io.ReadAll(tr); err != nil {
			t.Fatal(err)
		}
	}
}

// waitCheck polls health until check's verdict starts with verdict and holds want.
func waitCheck(t *testing.T, health func() map[string]string, check, verdict, want string) {
	t.Helper()
	var got string
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(2 * time.Second) {
		got = health()[check]
		if strings.HasPrefix(got, verdict) && strings.Contains(got, want) {
			return
		}
	}
	t.Errorf("health %q = %q, want %s with %q", check, got, verdict, want)
}

func decode(t *testing.T, out string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("%v:\n%s", err, truncate(out, 1500))
	}
}
