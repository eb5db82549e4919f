package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-os/kiln/client"
	"github.com/kiln-os/kiln/config"
	"github.com/kiln-os/kiln/internal/testpki"
)

func writeConfigFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Attack (issue 12, hole 9): kilnctl apply-config --insecure sent the CA keys to whoever
// answered at the address. Without --fingerprint it must refuse a config with secrets,
// send nothing, and say how to pin.
func TestApplyConfigRefusesSecretsToAnUnpinnedNode(t *testing.T) {
	data := testpki.Encode(t, testpki.ControlPlaneConfig(t))
	none := filepath.Join(t.TempDir(), "none")
	for name, file := range map[string]string{
		"controlplane": writeConfigFile(t, "controlplane.yaml", data),
		"pem":          writeConfigFile(t, "bad.yaml", []byte("version: v1alpha1\nkey: |\n  -----BEGIN EC PRIVATE KEY-----\n")),
	} {
		node, addr, _ := serveMaintenanceNode(t)
		for _, dry := range []string{"--dry-run=false", "--dry-run"} {
			r := runCtl(t, "--kiln-config", none, "--insecure", "-n", addr, "apply-config", dry, "-f", file)
			if !errors.Is(r.err, errUnpinned) || !strings.Contains(r.err.Error(), "--fingerprint") {
				t.Errorf("%s %s: err = %v, want a refusal that names --fingerprint", name, dry, r.err)
			}
		}
		node.mu.Lock()
		got := node.applied
		node.mu.Unlock()
		if got != nil {
			t.Errorf("%s: the unpinned node received the config", name)
		}
	}
}

func TestApplyConfigRefusalNamesTheSecrets(t *testing.T) {
	cfg := testpki.ControlPlaneConfig(t)
	held := secretsIn(testpki.Encode(t, cfg))
	for _, want := range []string{"machine.token", "cluster.ca.key", "a PEM private key"} {
		if !strings.Contains(held, want) {
			t.Errorf("secretsIn = %q, lacks %q", held, want)
		}
	}
}

// Pinned, the same config goes through: the operator checked the node's certificate.
func TestApplyConfigSendsSecretsToAPinnedNode(t *testing.T) {
	data := testpki.Encode(t, testpki.ControlPlaneConfig(t))
	node, addr, cert := serveMaintenanceNode(t)
	file := writeConfigFile(t, "controlplane.yaml", data)
	r := runCtl(t, "--kiln-config", filepath.Join(t.TempDir(), "none"), "--fingerprint", client.Fingerprint(cert.Certificate[0]), "-n", addr, "apply-config", "-f", file)
	if r.err != nil {
		t.Fatal(r.err)
	}
	node.mu.Lock()
	defer node.mu.Unlock()
	if node.applied == nil || string(node.applied.GetData()) != string(data) {
		t.Error("the pinned node did not receive the config")
	}
}

// The node refuses a config over config.MaxSize; kilnctl says so without sending it.
func TestApplyConfigRefusesAnOversizedFile(t *testing.T) {
	node, kc := configuredNode(t, "os:admin")
	file := writeConfigFile(t, "big.yaml", []byte("# "+strings.Repeat("x", config.MaxSize)+"\n"))
	r := runCtl(t, "--kiln-config", kc, "apply-config", "-f", file)
	if !errors.Is(r.err, config.ErrTooLarge) || !strings.Contains(r.err.Error(), "big.yaml") {
		t.Errorf("err = %v, want config.ErrTooLarge naming the file", r.err)
	}
	node.mu.Lock()
	defer node.mu.Unlock()
	if node.applied != nil {
		t.Error("the oversized config was sent")
	}
}
