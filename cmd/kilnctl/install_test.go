package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-os/kiln/client"
	"github.com/kiln-os/kiln/config"
	"github.com/kiln-os/kiln/internal/testpki"
)

// install -f sends the file with machine.install set from the flags, the rest unchanged,
// to a node in maintenance mode pinned by its fingerprint.
func TestInstallSendsTheConfigWithTheDisk(t *testing.T) {
	cfg := testpki.ControlPlaneConfig(t)
	cfg.Machine.Install = config.Install{Disk: "/dev/sdz", Wipe: true}
	file := writeConfigFile(t, "controlplane.yaml", testpki.Encode(t, cfg))
	node, addr, cert := serveMaintenanceNode(t)
	r := runCtl(t, "--kiln-config", filepath.Join(t.TempDir(), "none"), "--fingerprint", client.Fingerprint(cert.Certificate[0]),
		"-n", addr, "install", "--disk", "/dev/vda", "-f", file)
	if r.err != nil {
		t.Fatalf("%v\n%s", r.err, r.stderr)
	}
	node.mu.Lock()
	got := node.applied
	node.mu.Unlock()
	if got == nil || got.GetDryRun() {
		t.Fatalf("node received %v, want the config applied", got)
	}
	sent, err := config.Decode(got.GetData())
	if err != nil {
		t.Fatal(err)
	}
	if sent.Machine.Install.Disk != "/dev/vda" || sent.Machine.Install.Wipe {
		t.Errorf("install sent %+v, want disk /dev/vda without wipe", sent.Machine.Install)
	}
	if sent.Machine.Token != cfg.Machine.Token || sent.Cluster.ControlPlane.Endpoint != cfg.Cluster.ControlPlane.Endpoint {
		t.Error("install changed more than machine.install")
	}
}

func TestInstallRefusals(t *testing.T) {
	file := writeConfigFile(t, "c.yaml", testpki.Encode(t, testpki.ControlPlaneConfig(t)))
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"install", "-f", file}, "needs --disk"},
		{[]string{"install", "--disk", "vda", "-f", file}, `--disk "vda"`},
		{[]string{"install", "--disk", "/dev/vda", "-f", file, "--secrets-from", file}, "--secrets-from is for the node's own config"},
		{[]string{"install", "--disk", "/dev/vda", "-f", filepath.Join(t.TempDir(), "missing.yaml")}, "missing.yaml"},
	} {
		r := runCtl(t, tc.args...)
		if r.err == nil || !strings.Contains(r.err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want %q", tc.args, r.err, tc.want)
		}
	}
}
