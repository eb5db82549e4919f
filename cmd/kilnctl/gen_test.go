package main

import (
	"crypto/ecdsa"
	"crypto/tls"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kiln-os/kiln/client"
	"github.com/kiln-os/kiln/config"

	"github.com/kiln-os/kiln/internal/testpki"
)

// genCluster runs gen config into a temporary directory and returns the output directory
// and the kilnctl config path.
func genCluster(t *testing.T) (out, kc string) {
	t.Helper()
	dir := t.TempDir()
	out, kc = filepath.Join(dir, "out"), filepath.Join(dir, "kiln", "config")
	r := runCtl(t, "--kiln-config", kc, "gen", "config", "--name", "lab", "--endpoint", "https://127.0.0.1:6443", "--out", out)
	if r.err != nil {
		t.Fatalf("gen config: %v", r.err)
	}
	return out, kc
}

func TestGenConfigWritesValidConfigsAndAnAdminContext(t *testing.T) {
	out, kc := genCluster(t)
	for _, name := range []string{"controlplane.yaml", "worker.yaml"} {
		if _, err := config.Load(filepath.Join(out, name)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	info, err := os.Stat(kc)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("kilnctl config: %v, mode %v", err, info.Mode().Perm())
	}
	cfg, err := client.LoadConfig(kc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, name, err := cfg.Current("")
	if err != nil || name != "lab" || ctx.Endpoints[0] != "127.0.0.1" {
		t.Fatalf("context %q %+v %v", name, ctx, err)
	}
	pair, err := tls.X509KeyPair([]byte(ctx.Crt), []byte(ctx.Key))
	if err != nil {
		t.Fatal(err)
	}
	if org := pair.Leaf.Subject.Organization; len(org) != 1 || org[0] != "os:admin" {
		t.Errorf("admin certificate Organization = %v", org)
	}
	if ttl := pair.Leaf.NotAfter.Sub(time.Now()); ttl < 8759*time.Hour || ttl > 8761*time.Hour {
		t.Errorf("admin certificate lives %v, want the default 8760h", ttl)
	}
}

func TestGenConfigKeepsExistingConfigs(t *testing.T) {
	out, kc := genCluster(t)
	before, _ := os.ReadFile(filepath.Join(out, "controlplane.yaml"))
	r := runCtl(t, "--kiln-config", kc, "gen", "config", "--endpoint", "https://127.0.0.1:6443", "--out", out)
	wantErr(t, r, "--force")
	after, _ := os.ReadFile(filepath.Join(out, "controlplane.yaml"))
	if string(before) != string(after) {
		t.Error("controlplane.yaml replaced without --force")
	}
}

// TestGeneratedContextsReachANodeOfTheCluster serves with a certificate from the
// generated OS CA, as apid would, and calls it with the admin context and a reader
// context from gen cert.
func TestGeneratedContextsReachANodeOfTheCluster(t *testing.T) {
	out, kc := genCluster(t)
	cp, err := config.Load(filepath.Join(out, "controlplane.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	node := &fakeNode{}
	addr := serveConfigured(t, caFromConfig(t, cp.Machine.CA), node)

	if r := runCtl(t, "--kiln-config", kc, "-n", addr, "reboot"); r.err != nil || node.reboots != 1 {
		t.Fatalf("admin reboot: %v", r.err)
	}
	r := runCtl(t, "gen", "cert", "--role", "os:reader", "--cn", "alice", "--ttl", "1h", "--ca-from", filepath.Join(out, "controlplane.yaml"))
	if r.err != nil {
		t.Fatal(r.err)
	}
	readerKC := filepath.Join(t.TempDir(), "reader")
	os.WriteFile(readerKC, []byte(r.stdout), 0o600)
	if r := runCtl(t, "--kiln-config", readerKC, "-n", addr, "version"); r.err != nil {
		t.Errorf("reader version: %v", r.err)
	}
	r = runCtl(t, "--kiln-config", readerKC, "-n", addr, "reboot")
	wantErr(t, r, "(os:reader) may not call Reboot; it needs os:operator")
}

func TestGenCertRefusesAWorkerConfig(t *testing.T) {
	out, _ := genCluster(t)
	r := runCtl(t, "gen", "cert", "--cn", "bob", "--ca-from", filepath.Join(out, "worker.yaml"))
	wantErr(t, r, "no OS CA key", "controlplane")
}

// caFromConfig turns the config's PEM CA into a testCA that can sign a server certificate.
func caFromConfig(t *testing.T, ca config.CA) testCA {
	t.Helper()
	pair, err := tls.X509KeyPair([]byte(ca.Crt), []byte(ca.Key))
	if err != nil {
		t.Fatal(err)
	}
	ecKey, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
	if !ok {
		t.Fatalf("CA key is %T, the test signs with ECDSA only", pair.PrivateKey)
	}
	return testCA{&testpki.CA{Cert: pair.Leaf, Key: ecKey}}
}
