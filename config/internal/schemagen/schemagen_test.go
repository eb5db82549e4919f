package main

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"
)

const configDir = "../.."

func TestSchemaJSONIsCurrent(t *testing.T) {
	want, err := generate(configDir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(configDir + "/schema.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("config/schema.json is stale: run go generate ./config")
	}
}

func TestGenerateNeedsTheSource(t *testing.T) {
	if _, err := generate(t.TempDir()); err == nil {
		t.Fatal("generate without config's source succeeded")
	}
}

func TestSchemaShape(t *testing.T) {
	data, err := generate(configDir)
	if err != nil {
		t.Fatal(err)
	}
	var root map[string]any
	if err := json.Unmarshal(data, &root); err != nil {
		t.Fatal(err)
	}
	machine := property(t, root, "machine")
	if got := property(t, machine, "type")["enum"]; len(got.([]any)) != 2 {
		t.Errorf("machine.type enum %v", got)
	}
	mtu := property(t, items(t, property(t, property(t, machine, "network"), "interfaces")), "mtu")
	if mtu["maximum"] != 65535.0 || mtu["type"] != "integer" || mtu["description"] == "" {
		t.Errorf("mtu schema %v", mtu)
	}
	if root["additionalProperties"] != false {
		t.Error("root allows unknown properties")
	}
}

func property(t *testing.T, s map[string]any, name string) map[string]any {
	t.Helper()
	p, ok := s["properties"].(map[string]any)[name].(map[string]any)
	if !ok {
		t.Fatalf("no property %s in %v", name, s)
	}
	return p
}

func items(t *testing.T, s map[string]any) map[string]any {
	t.Helper()
	return s["items"].(map[string]any)
}
