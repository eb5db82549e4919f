package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/kiln-os/kiln/api/machine"
	"github.com/kiln-os/kiln/config"
)

func TestGenConfigPatches(t *testing.T) {
	dir := t.TempDir()
	out, kc := filepath.Join(dir, "out"), filepath.Join(dir, "kiln", "config")
	patchFile := filepath.Join(dir, "worker-patch.json")
	os.WriteFile(patchFile, []byte(`[{"op": "add", "path": "/machine/network/hostname", "value": "worker-1"}]`), 0o600)
	r := runCtl(t, "--kiln-config", kc, "gen", "config", "--name", "lab", "--endpoint", "https://127.0.0.1:6443", "--out", out,
		"--config-patch", `{machine: {network: {interfaces: [{interface: eth0, dhcp: true}, {interface: eth1, dhcp: true}]}}}`,
		"--config-patch", `{machine: {network: {interfaces: [{interface: eth1, $patch: delete}]}}}`,
		"--config-patch-control-plane", `{machine: {network: {hostname: cp-1}}}`,
		"--config-patch-worker", "@"+patchFile)
	if r.err != nil {
		t.Fatalf("gen config: %v", r.err)
	}
	for name, hostname := range map[string]string{"controlplane.yaml": "cp-1", "worker.yaml": "worker-1"} {
		cfg, err := config.Load(filepath.Join(out, name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		ifaces := cfg.Machine.Network.Interfaces
		if cfg.Machine.Network.Hostname != hostname || len(ifaces) != 1 || ifaces[0].Name != "eth0" || !ifaces[0].DHCP {
			t.Errorf("%s: hostname %q, interfaces %+v; want %s and eth0 alone", name, cfg.Machine.Network.Hostname, ifaces, hostname)
		}
	}
}

func TestGenConfigRefusesABadPatchAndWritesNothing(t *testing.T) {
	for _, tc := range []struct {
		flag, patch string
		want        []string
	}{
		{"--config-patch-worker", `{machine: {network: {interfaces: [{interface: eth0, dhcp: maybe}]}}}`,
			[]string{"worker.yaml: the patched config:", "machine.network.interfaces[0].dhcp"}},
		{"--config-patch", `{machine: {kubelet: {image: x}}}`, []string{"controlplane.yaml", "machine.kubelet.image: Talos v1alpha1 field not supported by Kiln"}},
		{"--config-patch-control-plane", `[{"op": "remove", "path": "/machine/nothing"}]`,
			[]string{"controlplane.yaml: --config-patch-control-plane (inline, number 1): patch operation 0 (remove /machine/nothing)"}},
		{"--config-patch", "@/nonexistent/patch.yaml", []string{"--config-patch @/nonexistent/patch.yaml", "no such file"}},
	} {
		t.Run(tc.flag+" "+tc.patch, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			r := runCtl(t, "--kiln-config", filepath.Join(t.TempDir(), "config"), "gen", "config", "--endpoint", "https://127.0.0.1:6443", "--out", out, tc.flag, tc.patch)
			if r.err == nil {
				t.Fatal("a bad patch was accepted")
			}
			for _, want := range tc.want {
				if !strings.Contains(r.err.Error(), want) {
					t.Errorf("error %q lacks %q", r.err, want)
				}
			}
			if _, err := os.Stat(filepath.Join(out, "controlplane.yaml")); err == nil {
				t.Error("controlplane.yaml was written despite the bad patch")
			}
		})
	}
}

func TestPatchLocalFileKeepsItsCommentsAndValidates(t *testing.T) {
	out, _ := genCluster(t)
	file := filepath.Join(out, "worker.yaml")
	data, _ := os.ReadFile(file)
	os.WriteFile(file, append([]byte("# my worker\n"), data...), 0o600)
	patched := filepath.Join(out, "patched.yaml")
	r := runCtl(t, "patch", "machineconfig", "--file", file, "--patch", `{machine: {network: {hostname: w1}}}`, "--output", patched)
	if r.err != nil {
		t.Fatal(r.err)
	}
	got, err := os.ReadFile(patched)
	if err != nil || !strings.HasPrefix(string(got), "# my worker\n") {
		t.Fatalf("patched file %v:\n%s", err, got)
	}
	if cfg, err := config.Load(patched); err != nil || cfg.Machine.Network.Hostname != "w1" {
		t.Fatalf("patched config %v, %+v", err, cfg)
	}
	r = runCtl(t, "patch", "machineconfig", "--file", file, "--patch", `{machine: {network: {hostname: "-bad-"}}}`)
	if r.err == nil || !strings.Contains(r.err.Error(), "machine.network.hostname") || r.stdout != "" {
		t.Errorf("bad patch: err %v, stdout %q", r.err, r.stdout)
	}
	r = runCtl(t, "patch", "machineconfig", "--file", file, "--patch", "{}", "--mode", "reboot")
	if r.err == nil || !errors.Is(r.err, errUsage) {
		t.Errorf("--mode with --file: %v", r.err)
	}
}

// configNode is a node that holds a real config: it serves it redacted, as machined
// does, and applies whole configs, reporting the change of each field.
type configNode struct {
	machine.UnimplementedMachineServiceServer
	mu      sync.Mutex
	cfg     *config.Config
	applies int
}

func (n *configNode) ResourceGet(_ context.Context, req *machine.ResourceGetRequest) (*machine.Resource, error) {
	if req.GetType() != "MachineConfig" || req.GetId() != config.Version1Alpha1 {
		return nil, status.Errorf(codes.NotFound, "no %s %s", req.GetType(), req.GetId())
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	spec, err := json.Marshal(map[string]any{"config": config.Redact(n.cfg)})
	if err != nil {
		return nil, err
	}
	return &machine.Resource{Metadata: &machine.ResourceMetadata{Namespace: "config", Type: "MachineConfig", Id: config.Version1Alpha1}, SpecJson: spec}, nil
}

func (n *configNode) ApplyConfiguration(_ context.Context, req *machine.ApplyConfigurationRequest) (*machine.ApplyConfigurationResponse, error) {
	cfg, err := config.Decode(req.GetData())
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	resp := &machine.ApplyConfigurationResponse{ModeApplied: "no_reboot"}
	for _, c := range config.Diff(n.cfg, cfg) {
		resp.Changes = append(resp.Changes, &machine.ConfigChange{Path: c.Path, OldValue: c.Old, NewValue: c.New, Reboot: c.Reboot})
		resp.Diff += c.Path + ": " + c.Old + " → " + c.New + "\n"
	}
	if req.GetDryRun() {
		resp.ModeApplied = "dry_run"
		return resp, nil
	}
	n.cfg = cfg
	n.applies++
	return resp, nil
}

// serveConfigNode starts node with mutual TLS and returns a kilnctl config reaching it
// as an operator.
func serveConfigNode(t *testing.T, node *configNode) string {
	t.Helper()
	ca := newTestCA(t)
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	conf := &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{ca.serverCert(t)}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(conf)))
	machine.RegisterMachineServiceServer(srv, node)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return writeContext(t, ca, ca.clientCert(t, "os:operator", time.Time{}), lis.Addr().String())
}

// clusterNode is a node running the controlplane.yaml of a generated cluster.
func clusterNode(t *testing.T) (node *configNode, kc, secrets string) {
	out, _ := genCluster(t)
	secrets = filepath.Join(out, "controlplane.yaml")
	cfg, err := config.Load(secrets)
	if err != nil {
		t.Fatal(err)
	}
	node = &configNode{cfg: cfg}
	return node, serveConfigNode(t, node), secrets
}

func TestPatchMachineConfigKeepsTheSecrets(t *testing.T) {
	node, kc, secrets := clusterNode(t)
	before := *node.cfg
	r := runCtl(t, "--kiln-config", kc, "patch", "machineconfig", "--secrets-from", secrets,
		"--patch", `[{"op": "add", "path": "/machine/network", "value": {"interfaces": [{"interface": "eth0", "dhcp": true}]}}]`,
		"--patch", `{machine: {network: {hostname: cp-2}}}`)
	if r.err != nil {
		t.Fatalf("%v\n%s", r.err, r.stderr)
	}
	got := node.cfg
	if node.applies != 1 || got.Machine.Network.Hostname != "cp-2" || len(got.Machine.Network.Interfaces) != 1 {
		t.Fatalf("applies %d, network %+v", node.applies, got.Machine.Network)
	}
	if got.Machine.Token != before.Machine.Token || got.Machine.CA.Key != before.Machine.CA.Key || got.Cluster.CA.Key != before.Cluster.CA.Key {
		t.Error("the node's secrets changed")
	}
	if !strings.Contains(r.stdout, "machine.network.hostname:") || strings.Contains(r.stdout, "machine.token") {
		t.Errorf("diff:\n%s", r.stdout)
	}
}

func TestPatchMachineConfigWithoutSecretsFileSaysWhatToPass(t *testing.T) {
	node, kc, _ := clusterNode(t)
	r := runCtl(t, "--kiln-config", kc, "patch", "machineconfig", "--patch", `{machine: {network: {hostname: cp-2}}}`)
	if r.err == nil || !strings.Contains(r.err.Error(), "--secrets-from controlplane.yaml") || !strings.Contains(r.err.Error(), "machine.token") || node.applies != 0 {
		t.Errorf("err %v, applies %d", r.err, node.applies)
	}
}

func TestPatchMachineConfigRefusesAnotherClustersSecrets(t *testing.T) {
	node, kc, secrets := clusterNode(t)
	otherOut, _ := genCluster(t)
	r := runCtl(t, "--kiln-config", kc, "patch", "machineconfig", "--secrets-from", filepath.Join(otherOut, "controlplane.yaml"),
		"--patch", `{machine: {network: {hostname: cp-2}}}`)
	if r.err == nil || !strings.Contains(r.err.Error(), "machine.ca.key: does not match the public key of machine.ca.crt") || node.applies != 0 {
		t.Errorf("another cluster's keys: err %v, applies %d", r.err, node.applies)
	}
	// Same CAs, another token: only the node can tell, in the dry run.
	cfg, err := config.Load(secrets)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Machine.Token = "zzzzzz.zzzzzzzzzzzzzzzz"
	otherToken := filepath.Join(t.TempDir(), "cp.yaml")
	if err := config.Save(otherToken, cfg); err != nil {
		t.Fatal(err)
	}
	r = runCtl(t, "--kiln-config", kc, "patch", "machineconfig", "--secrets-from", otherToken, "--patch", `{machine: {network: {hostname: cp-2}}}`)
	if !errors.Is(r.err, errSecretsDiffer) || !strings.Contains(r.err.Error(), "machine.token") || node.applies != 0 {
		t.Errorf("another token: err %v, applies %d", r.err, node.applies)
	}
	// A patch that sets the token itself is the operator's change, and goes through.
	r = runCtl(t, "--kiln-config", kc, "patch", "machineconfig", "--secrets-from", secrets, "--patch", `{machine: {token: zzzzzz.zzzzzzzzzzzzzzzz}}`)
	if r.err != nil || node.applies != 1 || node.cfg.Machine.Token != "zzzzzz.zzzzzzzzzzzzzzzz" {
		t.Errorf("token change: err %v, applies %d", r.err, node.applies)
	}
}

func TestPatchMachineConfigBadPatchNamesIt(t *testing.T) {
	node, kc, secrets := clusterNode(t)
	for patch, want := range map[string]string{
		`{machine: {network: {interfaces: [{dhcp: true}]}}}`: "machine.network.interfaces[0].interface: is empty",
		`{cluster: {proxy: {disabled: true}}}`:               "cluster.proxy: Talos v1alpha1 field not supported by Kiln",
		`{machine: {network: {nameservers: [nope]}}}`:        "machine.network.nameservers[0]",
	} {
		r := runCtl(t, "--kiln-config", kc, "patch", "machineconfig", "--secrets-from", secrets, "--patch", patch)
		if r.err == nil || !strings.Contains(r.err.Error(), want) {
			t.Errorf("patch %s: err %v, want %q", patch, r.err, want)
		}
	}
	if node.applies != 0 {
		t.Errorf("%d bad patches applied", node.applies)
	}
}

func TestPatchMachineConfigDryRunChangesNothing(t *testing.T) {
	node, kc, secrets := clusterNode(t)
	r := runCtl(t, "--kiln-config", kc, "patch", "mc", "--secrets-from", secrets, "--dry-run", "--patch", `{machine: {network: {hostname: cp-2}}}`)
	if r.err != nil || node.applies != 0 || !strings.Contains(r.stdout, "applied: dry_run") {
		t.Errorf("err %v, applies %d, out:\n%s", r.err, node.applies, r.stdout)
	}
}

// writeEditor writes a shell script that edits the file it is given with sed, and
// counts its runs in a file beside it.
func writeEditor(t *testing.T, sedScript string) (editor, runs string) {
	dir := t.TempDir()
	editor, runs = filepath.Join(dir, "editor.sh"), filepath.Join(dir, "runs")
	script := "#!/bin/sh\necho run >> " + runs + "\nsed -i '" + sedScript + "' \"$1\"\n"
	if err := os.WriteFile(editor, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	return editor, runs
}

func TestEditMachineConfigAppliesTheSave(t *testing.T) {
	node, kc, secrets := clusterNode(t)
	before := *node.cfg
	editor, _ := writeEditor(t, `s/^machine:$/machine:\n  network:\n    hostname: edited/`)
	t.Setenv("KILN_EDITOR", editor)
	r := runCtl(t, "--kiln-config", kc, "edit", "machineconfig", "--secrets-from", secrets)
	if r.err != nil {
		t.Fatalf("%v\n%s", r.err, r.stderr)
	}
	if node.applies != 1 || node.cfg.Machine.Network.Hostname != "edited" || node.cfg.Machine.Token != before.Machine.Token {
		t.Errorf("applies %d, hostname %q, token kept %v", node.applies, node.cfg.Machine.Network.Hostname, node.cfg.Machine.Token == before.Machine.Token)
	}
}

// A bad save reopens the editor with the errors on top; saving that unchanged cancels.
func TestEditMachineConfigReopensOnABadSave(t *testing.T) {
	node, kc, secrets := clusterNode(t)
	dir := t.TempDir()
	editor, seen := filepath.Join(dir, "editor.sh"), filepath.Join(dir, "seen")
	// First run: break the hostname. Later runs: keep a copy of what was shown, change nothing.
	script := "#!/bin/sh\nif [ -e " + seen + " ]; then cp \"$1\" " + seen + ".2; exit 0; fi\n" +
		"touch " + seen + "\nsed -i 's/^machine:$/machine:\\n  network:\\n    hostname: -bad-/' \"$1\"\n"
	os.WriteFile(editor, []byte(script), 0o700)
	t.Setenv("KILN_EDITOR", editor)
	r := runCtl(t, "--kiln-config", kc, "edit", "machineconfig", "--secrets-from", secrets)
	if !errors.Is(r.err, errEditCancelled) || node.applies != 0 {
		t.Fatalf("err %v, applies %d", r.err, node.applies)
	}
	shown, err := os.ReadFile(seen + ".2")
	if err != nil {
		t.Fatal("the editor was not reopened after a bad save")
	}
	if !strings.HasPrefix(string(shown), "# kilnctl: the config was not applied") || !strings.Contains(string(shown), "machine.network.hostname") ||
		!strings.Contains(string(shown), "hostname: -bad-") {
		t.Errorf("reopened with:\n%s", shown)
	}
}
