package config

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEncodeIsStableAndOrdered(t *testing.T) {
	c := fullConfig(t)
	first := encodeForTest(t, c)
	if !bytes.Equal(first, encodeForTest(t, c)) {
		t.Fatal("two encodings differ")
	}
	text := string(first)
	order := []string{"version:", "machine:", "  type:", "  token:", "  ca:", "crt: |", "  network:", "  sysctls:", "cluster:", "  controlPlane:"}
	last := -1
	for _, key := range order {
		at := strings.Index(text, key)
		if at <= last {
			t.Fatalf("%q out of order in\n%s", key, text)
		}
		last = at
	}
}

func TestSaveLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "config.yaml")
	want := fullConfig(t)
	if err := Save(path, want); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(encodeForTest(t, got), encodeForTest(t, want)) {
		t.Error("loaded config differs from the saved one")
	}
}

func TestSaveRefusesInvalidAndKeepsTheOldFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	good := fullConfig(t)
	if err := Save(path, good); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	bad := fullConfig(t)
	bad.Machine.Type = "boss"
	wantErrorContaining(t, Save(path, bad), "config not saved", "machine.type")
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Error("a rejected config changed the file")
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("files left behind: %v", entries)
	}
}

func TestLoadNamesTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	os.WriteFile(path, []byte("version: v1alpha1\nmachine: {type: worker, tokn: x}\n"), 0o600)
	_, err := Load(path)
	wantErrorContaining(t, err, path, "line 2: machine.tokn: unknown field")
	c := fullConfig(t)
	c.Version = "v2"
	os.WriteFile(path, encodeForTest(t, c), 0o600)
	_, err = Load(path)
	wantErrorContaining(t, err, path, "version: must be v1alpha1")
	_, err = Load(filepath.Join(t.TempDir(), "absent.yaml"))
	if !os.IsNotExist(err) {
		t.Errorf("missing file: %v", err)
	}
}
