package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runKiln(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := run(context.Background(), args, &out, &out)
	return out.String(), err
}

func TestKernelCheckPassesOnResolvedConfig(t *testing.T) {
	resolved := filepath.Join("..", "..", "kernel", "config", "resolved-x86_64.config")
	out, err := runKiln(t, "kernel", "check", "--config", resolved)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(out, "0 fail") {
		t.Errorf("report lacks the summary:\n%s", out)
	}
}

func TestKernelCheckFailsNamingTheOptionTurnedOff(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "kernel", "config", "resolved-x86_64.config"))
	if err != nil {
		t.Fatal(err)
	}
	weakened := strings.Replace(string(data), "CONFIG_SLAB_FREELIST_HARDENED=y", "# CONFIG_SLAB_FREELIST_HARDENED is not set", 1)
	if weakened == string(data) {
		t.Fatal("resolved config has no CONFIG_SLAB_FREELIST_HARDENED=y to turn off")
	}
	path := filepath.Join(t.TempDir(), "weak.config")
	os.WriteFile(path, []byte(weakened), 0o644)
	out, err := runKiln(t, "kernel", "check", "--config", path)
	if err == nil {
		t.Fatalf("check passed a config without SLAB_FREELIST_HARDENED:\n%s", out)
	}
	if !strings.Contains(err.Error(), "CONFIG_SLAB_FREELIST_HARDENED") {
		t.Errorf("error %q does not name the option", err)
	}
	if !strings.Contains(out, "fail       kconfig  CONFIG_SLAB_FREELIST_HARDENED") {
		t.Errorf("table does not mark it failed:\n%s", out)
	}
}

// A malformed spec fails with one line naming file:line and field, before touching _out.
func TestMalformedSpecLeavesOutputAlone(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "_out")
	os.MkdirAll(out, 0o755)
	os.WriteFile(filepath.Join(out, "manifest.json"), []byte("old"), 0o644)
	cases := map[string]string{
		"bad type":      "output: _out\nsourceDateEpoch: [1]\n",
		"unknown field": "output: _out\nkernal: {}\n",
	}
	for name, doc := range cases {
		t.Run(name, func(t *testing.T) {
			spec := filepath.Join(dir, "kiln.yaml")
			os.WriteFile(spec, []byte(doc), 0o644)
			_, err := runKiln(t, "build", "-f", spec)
			if err == nil || !strings.Contains(err.Error(), "kiln.yaml:2:") || strings.Contains(err.Error(), "\n") {
				t.Fatalf("err = %v, want one line with kiln.yaml:2", err)
			}
		})
	}
	_, err := runKiln(t, "build", "-f", filepath.Join(dir, "missing.yaml"))
	if err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Fatalf("missing spec: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 { // _out and kiln.yaml, no staging directories left behind
		t.Errorf("build left %d entries in %s", len(entries), dir)
	}
	if got, _ := os.ReadFile(filepath.Join(out, "manifest.json")); string(got) != "old" {
		t.Errorf("_out/manifest.json changed to %q", got)
	}
}

func TestUsage(t *testing.T) {
	if _, err := runKiln(t); err == nil {
		t.Error("no arguments accepted")
	}
	if _, err := runKiln(t, "frobnicate"); err == nil {
		t.Error("unknown command accepted")
	}
}

// Without keys the build stops at once, says how to make them, and creates no _out.
func TestBuildWithoutKeysFailsBeforeBuilding(t *testing.T) {
	dir := t.TempDir()
	spec := filepath.Join(dir, "kiln.yaml")
	os.WriteFile(spec, []byte("sourceDateEpoch: 1700000000\n"), 0o644)
	t.Setenv("KILN_CACHE", filepath.Join(dir, "cache"))
	_, err := runKiln(t, "build", "-f", spec)
	if err == nil || !strings.Contains(err.Error(), "kiln keys generate") {
		t.Fatalf("err = %v, want one saying how to make keys", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "_out")); !os.IsNotExist(err) {
		t.Errorf("_out created by a build that could not sign: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "cache", "kernel")); !os.IsNotExist(err) {
		t.Errorf("kernel step ran before the keys check: %v", err)
	}
}
