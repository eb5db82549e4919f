package main

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/kiln-os/kiln/config"
)

// seedWithSecrets is config/testdata/talos-seed.yaml verbatim, with the secrets that gen
// config generates merged in.
func seedWithSecrets(t *testing.T) []byte {
	t.Helper()
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
	return doc
}

func writeFile(t *testing.T, data []byte) string {
	path := filepath.Join(t.TempDir(), "node.yaml")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestValidateSeed(t *testing.T) {
	path := writeFile(t, seedWithSecrets(t))
	r := runCtl(t, "validate", "-f", path)
	if r.err != nil || r.stdout != path+": valid for mode metal\n" {
		t.Errorf("validate seed: %v\n%s", r.err, r.stdout)
	}
	r = runCtl(t, "validate", "-f", path, "--mode", "metal")
	if r.err != nil {
		t.Errorf("--mode metal: %v", r.err)
	}
}

func TestValidateReportsEveryErrorWithLineAndPath(t *testing.T) {
	doc := strings.Replace(string(seedWithSecrets(t)), "hostname: control-plane-1", "hostname: control-plane-1\n    mtu: 9000", 1)
	doc = strings.Replace(doc, "clusterName: my-cluster", "clusterName: My_Cluster", 1)
	doc = strings.Replace(doc, "https://control-plane.example.com:6443", "ftp://control-plane.example.com", 1)
	lines := strings.Split(doc, "\n")
	lineOfText := func(text string) int {
		for i, l := range lines {
			if strings.Contains(l, text) {
				return i + 1
			}
		}
		t.Fatalf("no %q in the document", text)
		return 0
	}

	// A decode error (an unknown field) stops before Validate: the node does the same.
	path := writeFile(t, []byte(doc))
	r := runCtl(t, "validate", "-f", path)
	want := path + ":" + strconv.Itoa(lineOfText("mtu: 9000")) + ": machine.network.mtu: "
	if !errors.Is(r.err, errConfigInvalid) || !strings.HasPrefix(r.stdout, want) {
		t.Errorf("decode error: %v\n%s\nwant a line starting %q", r.err, r.stdout, want)
	}

	// Without it, Validate finds the two bad values; each gets the line of its field.
	doc = strings.Replace(doc, "\n    mtu: 9000", "", 1)
	lines = strings.Split(doc, "\n")
	path = writeFile(t, []byte(doc))
	r = runCtl(t, "validate", "-f", path)
	if !errors.Is(r.err, errConfigInvalid) || !strings.Contains(r.err.Error(), "2 error(s)") {
		t.Errorf("err = %v, want 2 errors", r.err)
	}
	for _, w := range []string{
		path + ":" + strconv.Itoa(lineOfText("clusterName")) + ": cluster.clusterName: must be an RFC 1123 label",
		path + ":" + strconv.Itoa(lineOfText("endpoint:")) + ": cluster.controlPlane.endpoint: ",
	} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("output lacks %q:\n%s", w, r.stdout)
		}
	}
}

func TestValidateBadInput(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"validate"}, "validate needs -f FILE"},
		{[]string{"validate", "-f", "x.yaml", "--mode", "container"}, "no container mode"},
		{[]string{"validate", "-f", "x.yaml", "--mode", "cloud"}, `--mode "cloud"`},
		{[]string{"validate", "-f", "/nonexistent/node.yaml"}, "/nonexistent/node.yaml"},
	} {
		if r := runCtl(t, c.args...); r.err == nil || !strings.Contains(r.err.Error(), c.want) {
			t.Errorf("%v: err = %v, want %q", c.args, r.err, c.want)
		}
	}
	r := runCtl(t, "validate", "-f", writeFile(t, []byte("version: v1alpha1\nmachine: [\n")))
	if !errors.Is(r.err, errConfigInvalid) || !strings.Contains(r.stdout, "not valid YAML") {
		t.Errorf("broken YAML: %v\n%s", r.err, r.stdout)
	}
}

func TestLineOf(t *testing.T) {
	var doc yaml.Node
	yaml.Unmarshal([]byte("machine:\n  sysctls:\n    net.ipv4.ip_forward: \"1\"\n  network:\n    interfaces:\n      - interface: eth0\n      - interface: eth1\n        addresses: [a]\n"), &doc)
	for path, want := range map[string]int{
		`machine.sysctls["net.ipv4.ip_forward"]`:     3,
		"machine.network.interfaces[1].addresses[0]": 8,
		"machine.network.interfaces[1]":              7,
		"machine.network.interfaces[5].interface":    5, // missing: the nearest enclosing field
		"machine.install.disk":                       1,
		"machine.network.interfaces[0].interface":    6,
	} {
		if got := lineOf(&doc, path); got != want {
			t.Errorf("lineOf(%s) = %d, want %d", path, got, want)
		}
	}
}
