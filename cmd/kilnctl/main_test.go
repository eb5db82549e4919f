package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/kiln-os/kiln/client"
)

// syncBuffer is a bytes.Buffer a test may read while run writes to it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type result struct {
	stdout, stderr string
	err            error
}

func runCtl(t *testing.T, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), append(args, "--timeout", "5s"), strings.NewReader(""), &stdout, &stderr)
	return result{stdout.String(), stderr.String(), err}
}

// writeContext writes a kilnctl config whose current context reaches addr with cert.
func writeContext(t *testing.T, ca testCA, cert tls.Certificate, addr string) string {
	t.Helper()
	crt, key := certPEM(t, cert)
	return writeContextPEM(t, ca.pem(), crt, key, addr)
}

func writeContextPEM(t *testing.T, caPEM, crt, key, addr string) string {
	t.Helper()
	kc := &client.Config{}
	kc.Merge("test", &client.Context{Endpoints: []string{addr}, CA: caPEM, Crt: crt, Key: key})
	path := filepath.Join(t.TempDir(), "config")
	if err := kc.Save(path); err != nil {
		t.Fatal(err)
	}
	return path
}

// configuredNode starts a configured fake node and returns it with a kilnctl config
// holding a certificate with role.
func configuredNode(t *testing.T, role string) (*fakeNode, string) {
	ca := newTestCA(t)
	node := &fakeNode{}
	addr := serveConfigured(t, ca, node)
	return node, writeContext(t, ca, ca.clientCert(t, role, time.Time{}), addr)
}

func TestVersionTable(t *testing.T) {
	_, kc := configuredNode(t, "os:reader")
	r := runCtl(t, "--kiln-config", kc, "version")
	if r.err != nil {
		t.Fatalf("%v\n%s", r.err, r.stderr)
	}
	for _, want := range []string{"VERSION      v0.1.0\n", "KERNEL       6.1.0-kiln\n", "MAINTENANCE  false\n"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("table lacks %q:\n%s", want, r.stdout)
		}
	}
}

func TestVersionJSONAndYAML(t *testing.T) {
	_, kc := configuredNode(t, "os:reader")
	r := runCtl(t, "version", "--kiln-config", kc, "-o", "json")
	if r.err != nil {
		t.Fatal(r.err)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("%v:\n%s", err, r.stdout)
	}
	if got["version"] != "v0.1.0" || got["kernel_release"] != "6.1.0-kiln" || got["maintenance"] != false {
		t.Errorf("json = %v", got)
	}
	r = runCtl(t, "-o", "yaml", "--kiln-config", kc, "version")
	if r.err != nil {
		t.Fatal(r.err)
	}
	want := "version: v0.1.0\ngo_version: go1.26\nkernel_release: 6.1.0-kiln\nmaintenance: false\n"
	if r.stdout != want {
		t.Errorf("yaml:\n%s\nwant:\n%s", r.stdout, want)
	}
}

func TestServicesTableIsAligned(t *testing.T) {
	_, kc := configuredNode(t, "os:reader")
	r := runCtl(t, "--kiln-config", kc, "services")
	if r.err != nil {
		t.Fatal(r.err)
	}
	want := "" +
		"NAME        STATE    HEALTH   RESTARTS  PID  SINCE\n" +
		"apid        running  healthy  0         412  2026-01-02T03:04:05Z\n" +
		"containerd  failed   unknown  3         -    -\n"
	if r.stdout != want {
		t.Errorf("got:\n%s\nwant:\n%s", r.stdout, want)
	}
}

func TestServicesYAMLListsEveryService(t *testing.T) {
	_, kc := configuredNode(t, "os:reader")
	r := runCtl(t, "--kiln-config", kc, "-o", "yaml", "services")
	if r.err != nil {
		t.Fatal(r.err)
	}
	var got struct {
		Services []struct {
			Name     string `yaml:"name"`
			Restarts int    `yaml:"restarts"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("%v:\n%s", err, r.stdout)
	}
	if len(got.Services) != 2 || got.Services[1].Name != "containerd" || got.Services[1].Restarts != 3 {
		t.Errorf("yaml = %+v\n%s", got, r.stdout)
	}
}

func TestEventsFollowEndsCleanlyWhenCancelled(t *testing.T) {
	_, kc := configuredNode(t, "os:reader")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--kiln-config", kc, "-o", "json", "events", "-f"}, nil, &stdout, &stderr)
	}()
	waitFor(t, func() bool { return strings.Count(stdout.String(), "\n") == 2 })
	cancel() // what Ctrl-C does through signal.NotifyContext
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("cancelled stream returned %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("events -f still running 5s after cancel")
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	var second map[string]any
	if err := json.Unmarshal([]byte(lines[1]), &second); err != nil || second["name"] != "Network" || second["seq"] != "2" {
		t.Errorf("second JSON line %q: %v %v", lines[1], second, err)
	}
}

func TestEventsWithoutFollowEndWithTheServer(t *testing.T) {
	_, kc := configuredNode(t, "os:reader")
	r := runCtl(t, "--kiln-config", kc, "events")
	if r.err != nil {
		t.Fatal(r.err)
	}
	if !strings.Contains(r.stdout, "phase    Network") || !strings.Contains(r.stdout, "took=1s") {
		t.Errorf("events table:\n%s", r.stdout)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
