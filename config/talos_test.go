package config

import (
	"errors"
	"os"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// secretsPatch is a strategic merge patch holding what kilnctl gen config generates for
// a controlplane: the join token and both CAs with their keys.
func secretsPatch(t *testing.T) []byte {
	t.Helper()
	s := secretsForTest(t)
	patch := map[string]any{
		"machine": map[string]any{"token": s.Token, "ca": map[string]string{"crt": s.OSCA.Crt, "key": s.OSCA.Key}},
		"cluster": map[string]any{"ca": map[string]string{"crt": s.KubernetesCA.Crt, "key": s.KubernetesCA.Key}},
	}
	out, err := yaml.Marshal(patch)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// The example, copied from the Talos documentation, is testdata/talos-seed.yaml
// verbatim: with the generated secrets added it must decode and validate.
func TestTalosSeedExampleDecodesAndValidates(t *testing.T) {
	seed, err := os.ReadFile("testdata/talos-seed.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Decode(seed); err != nil {
		t.Fatalf("the seed example alone does not decode: %v", err)
	}
	doc, err := ApplyStrategicMerge(seed, secretsPatch(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Decode(doc)
	if err != nil {
		t.Fatalf("decode:\n%s\n%v", doc, err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("validate: %v", err)
	}
	ifaces := cfg.Machine.Network.Interfaces
	if len(ifaces) != 1 || ifaces[0].Name != "eth0" || !ifaces[0].DHCP {
		t.Errorf("interfaces = %+v, want eth0 with DHCP", ifaces)
	}
	if cfg.Machine.Network.Hostname != "control-plane-1" || cfg.Cluster.Name != "my-cluster" ||
		cfg.Cluster.ControlPlane.Endpoint != "https://control-plane.example.com:6443" {
		t.Errorf("hostname %q, cluster %q, endpoint %q: not the seed's", cfg.Machine.Network.Hostname, cfg.Cluster.Name, cfg.Cluster.ControlPlane.Endpoint)
	}
}

func TestTalosFieldsNotSupported(t *testing.T) {
	for _, tc := range []struct{ yaml, path string }{
		{"machine:\n  kubelet: {image: x}\n", "machine.kubelet.image"},
		{"machine:\n  files: []\n", "machine.files"},
		{"machine:\n  features: {rbac: true}\n", "machine.features"},
		{"machine:\n  registries: {}\n", "machine.registries"},
		{"machine:\n  install:\n    diskSelector: {modalias: scsi:*}\n", "machine.install.diskSelector.modalias"},
		{"machine:\n  install:\n    extraKernelArgs: [quiet]\n", "machine.install.extraKernelArgs"},
		{"machine:\n  network:\n    interfaces:\n      - interface: eth0\n      - interface: eth1\n        vip: {ip: 10.0.0.1}\n", "machine.network.interfaces[1].vip"},
		{"machine:\n  network:\n    interfaces:\n      - interface: eth0\n        routes: [{network: 0.0.0.0/0, source: 10.0.0.2}]\n", "machine.network.interfaces[0].routes[0].source"},
		{"cluster:\n  network: {cni: {name: flannel}}\n", "cluster.network.cni"},
		{"cluster:\n  proxy: {disabled: true}\n", "cluster.proxy"},
		{"debug: false\n", "debug"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			_, err := Decode([]byte("version: v1alpha1\n" + tc.yaml))
			var fe FieldErrors
			if !errors.As(err, &fe) || len(fe) != 1 {
				t.Fatalf("error %v, want one field error", err)
			}
			if fe[0].Path != tc.path || !strings.Contains(fe[0].Reason, "not supported by Kiln") {
				t.Errorf("got %s: %s, want %s: not supported by Kiln", fe[0].Path, fe[0].Reason, tc.path)
			}
		})
	}
}

func TestUnknownFieldsStayUnknown(t *testing.T) {
	for _, tc := range []struct{ yaml, path, want string }{
		{"machine:\n  kubelett: {}\n", "machine.kubelett", "unknown field (known: "},
		{"cluster:\n  name: kiln\n", "cluster.name", "it is now clusterName"},
		{"machine:\n  network:\n    interfaces: [{name: eth0}]\n", "machine.network.interfaces[0].name", "it is now interface"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			_, err := Decode([]byte("version: v1alpha1\n" + tc.yaml))
			var fe FieldErrors
			if !errors.As(err, &fe) || len(fe) != 1 || fe[0].Path != tc.path || !strings.Contains(fe[0].Reason, tc.want) {
				t.Fatalf("error %v, want %s: ...%s...", err, tc.path, tc.want)
			}
			if strings.Contains(fe[0].Reason, "not supported") {
				t.Errorf("%s is no Talos field Kiln lacks: %s", tc.path, fe[0].Reason)
			}
		})
	}
}
