package client

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestConfigRoundTripsWithOwnerOnlyMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kiln", "config")
	want := &Config{}
	want.Merge("a", &Context{Endpoints: []string{"10.0.0.1"}, CA: "ca-a\n", Crt: "crt-a\n", Key: "key-a\n"})
	want.Merge("b", &Context{Endpoints: []string{"10.0.0.2:50001"}, CA: "ca-b\n", Crt: "crt-b\n", Key: "key-b\n"})
	if err := want.Save(path); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600: the file holds private keys", info.Mode().Perm())
	}
	got, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("loaded %+v, want %+v", got, want)
	}
	ctx, name, err := got.Current("")
	if err != nil || name != "b" || ctx.Endpoints[0] != "10.0.0.2:50001" {
		t.Errorf("current = %q %+v %v, want b (merged last)", name, ctx, err)
	}
}

func TestMergeReplacesAContextOfTheSameName(t *testing.T) {
	c := &Config{}
	c.Merge("a", &Context{CA: "old"})
	c.Merge("a", &Context{CA: "new"})
	if len(c.Contexts) != 1 || c.Contexts["a"].CA != "new" {
		t.Errorf("contexts = %+v", c.Contexts)
	}
}

func TestMissingConfigIsEmptyAndNamesTheWayOut(t *testing.T) {
	c, err := LoadConfig(filepath.Join(t.TempDir(), "absent"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Current(""); err == nil || !strings.Contains(err.Error(), "kilnctl gen config") {
		t.Errorf("err = %v", err)
	}
	c.Merge("a", &Context{})
	if _, _, err := c.Current("b"); err == nil || !strings.Contains(err.Error(), "[a]") {
		t.Errorf("unknown context err = %v, want the known names", err)
	}
}

func TestEndpointAddsTheDefaultPort(t *testing.T) {
	for in, want := range map[string]string{
		"10.0.0.1":       "10.0.0.1:50000",
		"10.0.0.1:50001": "10.0.0.1:50001",
		"node.example":   "node.example:50000",
		"::1":            "[::1]:50000",
		"[::1]:7":        "[::1]:7",
	} {
		if got := Endpoint(in); got != want {
			t.Errorf("Endpoint(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFingerprintAcceptsColonsAndUpperCase(t *testing.T) {
	if got := normalizeFingerprint("AB:cd:EF"); got != "abcdef" {
		t.Errorf("got %q", got)
	}
}
