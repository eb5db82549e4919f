package config

import (
	"reflect"
	"testing"
)

func FuzzDecode(f *testing.F) {
	f.Add(encodeForTest(f, fullConfig(f)))
	f.Add([]byte("version: v1alpha1\nmachine: {type: worker, sysctls: {a: 1}}\ncluster: {name: x}\n"))
	f.Add([]byte("machine:\n  network:\n    interfaces: [{name: eth0, dhcp: yes, mtu: 0x10}]\n"))
	f.Add([]byte("a: &x [1]\nb: *x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		first, err := Decode(data)
		if err != nil {
			return
		}
		first.Validate() // must not panic on anything Decode accepts
		encoded, err := Encode(first)
		if err != nil {
			t.Fatalf("encode an accepted config: %v", err)
		}
		second, err := Decode(encoded)
		if err != nil {
			t.Fatalf("re-decode: %v\n%s", err, encoded)
		}
		if !reflect.DeepEqual(first, second) {
			t.Fatalf("round trip changed the config:\n%#v\n%#v", first, second)
		}
	})
}

func FuzzApplyJSONPatch(f *testing.F) {
	f.Add([]byte(`{a: [1, {b: 2}]}`), []byte(`[{"op": "move", "from": "/a/1", "path": "/a/0"}, {"op": "test", "path": "/a/0/b", "value": 2.0}]`))
	f.Add([]byte(`{"~": 1}`), []byte(`[{"op": "copy", "from": "/~0", "path": "/x/-"}]`))
	f.Fuzz(func(t *testing.T, doc, patch []byte) {
		out, err := ApplyJSONPatch(doc, patch)
		if err != nil {
			return
		}
		if _, err := parseTree(out, "result"); err != nil {
			t.Fatalf("patched document does not parse: %v\n%s", err, out)
		}
	})
}

func FuzzApplyStrategicMerge(f *testing.F) {
	f.Add([]byte(`{machine: {network: {interfaces: [{name: eth0}]}}}`), []byte(`{machine: {network: {interfaces: [{name: eth0, mtu: 1}, {name: eth1}]}, sysctls: null}}`))
	f.Fuzz(func(t *testing.T, doc, patch []byte) {
		out, err := ApplyStrategicMerge(doc, patch)
		if err != nil {
			return
		}
		if _, err := parseTree(out, "result"); err != nil {
			t.Fatalf("merged document does not parse: %v\n%s", err, out)
		}
	})
}
