package config

import (
	"reflect"
	"strings"
	"testing"
)

func FuzzDecode(f *testing.F) {
	f.Add(encodeForTest(f, fullConfig(f)))
	f.Add([]byte("version: v1alpha1\nmachine: {type: worker, sysctls: {a: 1}}\ncluster: {clusterName: x}\n"))
	f.Add([]byte("machine:\n  network:\n    interfaces: [{interface: eth0, dhcp: yes, mtu: 0x10}]\n"))
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
	f.Add([]byte(`{machine: {network: {interfaces: [{interface: eth0}]}}}`), []byte(`{machine: {network: {interfaces: [{interface: eth0, mtu: 1}, {interface: eth1}]}, sysctls: null}}`))
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

// FuzzDiff checks Diff on any two configs Decode accepts: it does not panic, it reports a
// change exactly when the configs differ, each path once, and never a secret.
func FuzzDiff(f *testing.F) {
	full := encodeForTest(f, fullConfig(f))
	f.Add(full, []byte("version: v1alpha1\nmachine: {type: worker, token: abcdef.0123456789abcdef, sysctls: {a: 1}}\n"))
	f.Add([]byte("machine: {network: {interfaces: [{interface: eth0, routes: [{}]}]}}\n"), []byte("machine: {network: {interfaces: [{}, {}]}}\n"))
	f.Add([]byte("machine: {sysctls: {a: '', b: 2}}\n"), []byte("machine: {sysctls: {a: null}}\n"))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		old, err := Decode(a)
		if err != nil {
			return
		}
		changed, err := Decode(b)
		if err != nil {
			return
		}
		changes := Diff(old, changed)
		if equal := reflect.DeepEqual(old, changed); equal != (len(changes) == 0) {
			t.Fatalf("configs equal: %v, but Diff reports:\n%s", equal, FormatChanges(changes))
		}
		checkChanges(t, changes)
	})
}

// checkChanges fails on a path reported twice, a change that is none, or a secret path
// whose value is shown.
func checkChanges(t *testing.T, changes []Change) {
	seen := map[string]bool{}
	for _, change := range changes {
		if seen[change.Path] || change.Old == change.New && change.Old != redacted {
			t.Fatalf("change %v repeated or unchanged", change)
		}
		seen[change.Path] = true
		secret := change.Path == "machine.token" || strings.HasSuffix(change.Path, ".ca.key")
		if secret && (shown(change.Old) || shown(change.New)) {
			t.Fatalf("change %v shows a secret", change)
		}
	}
}

func shown(value string) bool {
	return value != "" && value != redacted
}
