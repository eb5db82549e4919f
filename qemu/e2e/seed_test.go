package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/kiln-os/kiln/config"
	"github.com/kiln-os/kiln/initd/events"
	"github.com/kiln-os/kiln/qemu"
)

// TestSeedExampleBoots is issue 17's "the node boots from it": the seed's example config
// (config/testdata/talos-seed.yaml) verbatim, with the secrets gen config makes merged in,
// handed to a VM through fw_cfg. The node boots ready with the seed's hostname on eth0's
// DHCP lease, and answers kilnctl with a certificate from the config's CA.
func TestSeedExampleBoots(t *testing.T) {
	img := requireImage(t)
	work := t.TempDir()
	seed, err := os.ReadFile(filepath.Join("..", "..", "config", "testdata", "talos-seed.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := config.GenerateSecrets(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	patch, err := yaml.Marshal(map[string]any{
		"machine": map[string]any{"token": s.Token, "ca": map[string]string{"crt": s.OSCA.Crt, "key": s.OSCA.Key}},
		"cluster": map[string]any{"ca": map[string]string{"crt": s.KubernetesCA.Crt, "key": s.KubernetesCA.Key}},
	})
	if err != nil {
		t.Fatal(err)
	}
	doc, err := config.ApplyStrategicMerge(seed, patch)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(work, "seed.yaml")
	if err := os.WriteFile(file, doc, 0o600); err != nil {
		t.Fatal(err)
	}

	c := ctl{t: t, bin: buildKilnctl(t, work), config: filepath.Join(work, "kiln-config"), node: fmt.Sprintf("127.0.0.1:%d", freePort(t))}
	var hostPort int
	fmt.Sscan(c.node[strings.LastIndexByte(c.node, ':')+1:], &hostPort)
	c.must("validate", "-f", file)
	ctx, cancel := context.WithTimeout(context.Background(), bootTimeout)
	defer cancel()
	vm := start(t, ctx, img, "seed", img.cmdline, qemu.WithUserNet(qemu.Forward{HostPort: hostPort, GuestPort: 50000}),
		qemu.WithExtraArgs("-fw_cfg", "name=opt/kiln/config,file="+file))
	waitReady(t, ctx, vm)
	if e := findEvent(vm.Events(), events.TypeInfo, "config"); e == nil || e.Fields["source"] != "fw_cfg" {
		t.Errorf("config event %+v, want the seed from fw_cfg", e)
	}
	// gen cert names the context after its CN; the ctl runs with --context e2e.
	c.must("gen", "cert", "--role", config.RoleReader, "--cn", "e2e", "--ttl", "1h", "--ca-from", file, "--merge")
	if out := c.must("get", "hostnamestatus", "-o", "yaml"); !strings.Contains(out, "control-plane-1") {
		t.Errorf("the node's hostname is not the seed's:\n%s", out)
	}
	vm.Kill()
}
