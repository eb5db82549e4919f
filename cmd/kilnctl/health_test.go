package main

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-os/kiln/api/machine"
)

// healthyNode is a fake node on which every check passes: the manifest it returns
// predicts the node's PCR 11.
func healthyNode(t *testing.T) (*fakeNode, string, string) {
	node, kc := configuredNode(t, "os:reader")
	node.resources = map[string]any{
		"MachineStatus/machine":       map[string]any{"stage": "running", "ready": true, "phase": "Ready"},
		"TimeStatus/node":             map[string]any{"synced": true, "server": "10.0.2.2", "offset": "3ms"},
		"SecureBootStatus/secureboot": map[string]any{"secureBoot": true, "source": "efivars"},
		"PCR11/ready":                 map[string]any{"phase": "ready", "values": map[string]string{"sha256": "ABCD", "sha384": "ef01"}},
	}
	node.services = []map[string]any{
		{"name": "apid", "state": "healthy", "healthy": true},
		{"name": "trustd", "state": "healthy", "healthy": true},
	}
	node.events = []*machine.Event{
		{Seq: 1, Type: "info", Name: "state", State: "mounted", Fields: map[string]string{"mode": "sealed", "device": "/dev/vda3"}},
		{Seq: 2, Type: "info", Name: "eventlog", State: "verified"},
	}
	manifest := filepath.Join(t.TempDir(), "manifest.json")
	os.WriteFile(manifest, []byte(`{"name":"kiln","pcr11":{"sha256":{"uki":"00","ready":"abcd"},"sha384":{"ready":"EF01"}}}`), 0o644)
	return node, kc, manifest
}

func TestHealthPasses(t *testing.T) {
	_, kc, manifest := healthyNode(t)
	r := runCtl(t, "--kiln-config", kc, "health", "--manifest", manifest)
	if r.err != nil {
		t.Fatalf("%v\n%s", r.err, r.stdout)
	}
	for _, want := range []string{"boot ready", "services healthy", "apid, trustd", "time synced", "STATE sealed", "Secure Boot on",
		"PCR 11", "equal in sha256, sha384", "event log verified"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("checklist lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Count(r.stdout, "PASS") != 7 {
		t.Errorf("want 7 PASS:\n%s", r.stdout)
	}
}

func TestHealthWithoutManifestSkipsPCR11(t *testing.T) {
	_, kc, _ := healthyNode(t)
	r := runCtl(t, "--kiln-config", kc, "-o", "json", "health")
	if r.err != nil {
		t.Fatalf("%v\n%s", r.err, r.stdout)
	}
	var out struct{ Checks []healthCheck }
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("%v:\n%s", err, r.stdout)
	}
	if len(out.Checks) != 7 || out.Checks[5].Verdict != verdictSkip || !strings.Contains(out.Checks[5].Reason, "skipped: no manifest") {
		t.Errorf("checks = %+v", out.Checks)
	}
}

// TestHealthFails breaks one thing at a time and wants that check, and only that one,
// to fail with its reason, and the command to fail.
func TestHealthFails(t *testing.T) {
	for _, c := range []struct {
		name, check, reason string
		breakIt             func(*fakeNode)
	}{
		{"not ready", "boot ready", "stage booting, phase Network", func(n *fakeNode) {
			n.resources["MachineStatus/machine"] = map[string]any{"stage": "booting", "phase": "Network"}
		}},
		{"stopped service", "services healthy", "trustd is stopped", func(n *fakeNode) {
			n.services[1] = map[string]any{"name": "trustd", "state": "stopped", "healthy": false}
		}},
		{"time", "time synced", "not synced: no answer from 10.0.2.2", func(n *fakeNode) {
			n.resources["TimeStatus/node"] = map[string]any{"error": "no answer from 10.0.2.2"}
		}},
		{"plain STATE", "STATE sealed", "STATE is plain, not sealed: unencrypted", func(n *fakeNode) {
			n.events[0].Fields = map[string]string{"mode": "plain", "warning": "unencrypted: no TPM"}
		}},
		{"diskless", "STATE sealed", "diskless", func(n *fakeNode) { n.events[0].State = "diskless" }},
		{"secure boot off", "Secure Boot on", "Secure Boot is off", func(n *fakeNode) {
			n.resources["SecureBootStatus/secureboot"] = map[string]any{"secureBoot": false, "source": "efivars"}
		}},
		{"pcr 11", "PCR 11", "sha256: the node has 1234, the manifest predicts abcd", func(n *fakeNode) {
			n.resources["PCR11/ready"] = map[string]any{"values": map[string]string{"sha256": "1234"}}
		}},
		{"no pcr 11", "PCR 11", "no runtime/PCR11/ready", func(n *fakeNode) { delete(n.resources, "PCR11/ready") }},
		{"event log", "event log verified", "event log mismatch: PCR 7", func(n *fakeNode) {
			n.events[1] = &machine.Event{Type: "info", Name: "eventlog", State: "mismatch", Error: "PCR 7"}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			node, kc, manifest := healthyNode(t)
			c.breakIt(node)
			r := runCtl(t, "--kiln-config", kc, "health", "--manifest", manifest)
			if !errors.Is(r.err, errUnhealthy) || !strings.Contains(r.err.Error(), c.check) {
				t.Errorf("err = %v, want unhealthy naming %q", r.err, c.check)
			}
			var failed []string
			for _, line := range strings.Split(r.stdout, "\n") {
				if strings.Contains(line, "FAIL") {
					failed = append(failed, line)
				}
			}
			if len(failed) != 1 || !strings.HasPrefix(failed[0], c.check) || !strings.Contains(failed[0], c.reason) {
				t.Errorf("failed lines %q, want one: %s ... %s\n%s", failed, c.check, c.reason, r.stdout)
			}
		})
	}
}

func TestHealthBadManifest(t *testing.T) {
	_, kc, _ := healthyNode(t)
	bad := filepath.Join(t.TempDir(), "manifest.json")
	os.WriteFile(bad, []byte("{not json"), 0o644)
	r := runCtl(t, "--kiln-config", kc, "health", "--manifest", bad)
	if !errors.Is(r.err, errUnhealthy) || !strings.Contains(r.stdout, bad) {
		t.Errorf("err = %v, output:\n%s\nwant the PCR 11 check failing with the manifest's name", r.err, r.stdout)
	}
}
