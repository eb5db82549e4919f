package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/kiln-os/kiln/api/machine"
	"github.com/kiln-os/kiln/client"
)

func TestApplyConfigSendsTheFileWithDryRun(t *testing.T) {
	node, kc := configuredNode(t, "os:admin")
	file := filepath.Join(t.TempDir(), "worker.yaml")
	os.WriteFile(file, []byte("version: v1alpha1\n"), 0o600)
	r := runCtl(t, "--kiln-config", kc, "apply-config", "-f", file, "--dry-run", "--mode", "no-reboot")
	if r.err != nil {
		t.Fatal(r.err)
	}
	got := node.applied
	if got == nil || string(got.GetData()) != "version: v1alpha1\n" || !got.GetDryRun() || got.GetMode() != machine.ApplyConfigurationRequest_NO_REBOOT {
		t.Errorf("node received %v", got)
	}
	if r.stdout != "-hostname: a\n+hostname: b\napplied: dry_run\n" {
		t.Errorf("output:\n%s", r.stdout)
	}
}

func TestApplyConfigRejectsAnUnknownMode(t *testing.T) {
	r := runCtl(t, "apply-config", "-f", "x.yaml", "--mode", "sometimes")
	if r.err == nil || !strings.Contains(r.err.Error(), "auto, no-reboot or reboot") {
		t.Errorf("err = %v", r.err)
	}
}

func TestListPrintsTheSpecAsYAML(t *testing.T) {
	_, kc := configuredNode(t, "os:reader")
	r := runCtl(t, "--kiln-config", kc, "-o", "yaml", "list", "AddressStatus")
	if r.err != nil {
		t.Fatal(r.err)
	}
	var got []struct {
		Metadata struct {
			Type    string `yaml:"type"`
			Version string `yaml:"version"`
		} `yaml:"metadata"`
		Spec struct {
			Address string `yaml:"address"`
		} `yaml:"spec"`
	}
	if err := yaml.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("%v:\n%s", err, r.stdout)
	}
	if len(got) != 1 || got[0].Metadata.Type != "AddressStatus" || got[0].Spec.Address != "10.0.2.15/24" {
		t.Errorf("yaml = %+v:\n%s", got, r.stdout)
	}
}

func TestGetWithoutIDListsAsATable(t *testing.T) {
	_, kc := configuredNode(t, "os:reader")
	r := runCtl(t, "--kiln-config", kc, "get", "AddressStatus")
	if r.err != nil {
		t.Fatal(r.err)
	}
	if !strings.Contains(r.stdout, "network    AddressStatus  eth0  2        network.AddressController") {
		t.Errorf("table:\n%s", r.stdout)
	}
}

func TestPCRsTableIsSortedByIndex(t *testing.T) {
	_, kc := configuredNode(t, "os:reader")
	r := runCtl(t, "--kiln-config", kc, "pcrs", "--pcrs", "0-11")
	if r.err != nil {
		t.Fatal(r.err)
	}
	want := "BANK    PCR  VALUE\nsha256  7    01\nsha256  11   abcd\n"
	if r.stdout != want {
		t.Errorf("got:\n%s\nwant:\n%s", r.stdout, want)
	}
}

func TestInsecurePrintsTheServerFingerprint(t *testing.T) {
	addr, cert := serveMaintenance(t)
	fp := client.Fingerprint(cert.Certificate[0])
	r := runCtl(t, "--kiln-config", filepath.Join(t.TempDir(), "none"), "--insecure", "-n", addr, "version")
	if r.err != nil {
		t.Fatal(r.err)
	}
	if !strings.Contains(r.stderr, "SHA-256: "+fp+"\n") {
		t.Errorf("stderr lacks fingerprint %s:\n%s", fp, r.stderr)
	}
	if !strings.Contains(r.stdout, "MAINTENANCE  true") {
		t.Errorf("stdout:\n%s", r.stdout)
	}
}

func TestFingerprintPinsTheServer(t *testing.T) {
	addr, cert := serveMaintenance(t)
	fp := client.Fingerprint(cert.Certificate[0])
	none := filepath.Join(t.TempDir(), "none")
	r := runCtl(t, "--kiln-config", none, "--fingerprint", strings.ToUpper(fp), "-n", addr, "version")
	if r.err != nil || r.stderr != "" {
		t.Fatalf("pinned right fingerprint: %v\n%s", r.err, r.stderr)
	}
	wrong := strings.Repeat("00", 32)
	r = runCtl(t, "--kiln-config", none, "--fingerprint", wrong, "-n", addr, "version")
	if r.err == nil || !strings.Contains(r.err.Error(), "does not match") || !strings.Contains(r.err.Error(), "do not send it a config") {
		t.Errorf("pinned wrong fingerprint: err = %v", r.err)
	}
}
