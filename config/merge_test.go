package config

import (
	"testing"

	"gopkg.in/yaml.v3"
)

func TestStrategicMerge(t *testing.T) {
	doc := `
machine:
  network:
    hostname: node1
    interfaces:
      - interface: eth0
        dhcp: true
        routes:
          - {network: 0.0.0.0/0, gateway: 10.0.0.1}
          - {network: 10.8.0.0/16, gateway: 10.0.0.2}
      - interface: eth1
        mtu: 1500
    nameservers: [1.1.1.1]
  sysctls: {a: "1", b: "2"}
`
	for _, tc := range []struct{ name, patch, want string }{
		{"maps merge recursively", `{machine: {network: {hostname: node2}}}`, `hostname: node2`},
		{"null deletes a key", `{machine: {sysctls: {a: null}}}`, `sysctls: {b: "2"}`},
		{"null for an absent key is nothing", `{machine: {time: null}}`, `sysctls: {a: "1", b: "2"}`},
		{"plain lists replace", `{machine: {network: {nameservers: [9.9.9.9]}}}`, `nameservers: [9.9.9.9]`},
		{"interfaces merge by name", `{machine: {network: {interfaces: [{interface: eth1, mtu: 9000}]}}}`, `- {interface: eth1, mtu: 9000}`},
		{"new interfaces append", `{machine: {network: {interfaces: [{interface: eth2, dhcp: true}]}}}`, `- {interface: eth2, dhcp: true}`},
		{"routes merge by network", `{machine: {network: {interfaces: [{interface: eth0, routes: [{network: 10.8.0.0/16, metric: 5}]}]}}}`,
			`- {network: 10.8.0.0/16, gateway: 10.0.0.2, metric: 5}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ApplyStrategicMerge([]byte(doc), []byte(tc.patch))
			if err != nil {
				t.Fatal(err)
			}
			wantSubtree(t, got, tc.want)
		})
	}
}

// wantSubtree checks that want (a YAML mapping or list) equals a subtree of got.
func wantSubtree(t *testing.T, got []byte, want string) {
	t.Helper()
	root, err := parseTree(got, "result")
	if err != nil {
		t.Fatal(err)
	}
	wantTree, err := parseTree([]byte(want), "want")
	if err != nil {
		t.Fatal(err)
	}
	if wantTree.Kind == yaml.SequenceNode {
		wantTree = wantTree.Content[0] // "- item": look for the item
	}
	if !containsSubtree(root, wantTree) {
		t.Errorf("no subtree %s in\n%s", want, got)
	}
}

func TestStrategicMergeKeepsUntouchedItems(t *testing.T) {
	doc := `{machine: {network: {interfaces: [{interface: eth0, dhcp: true}, {interface: eth1}]}}}`
	got, err := ApplyStrategicMerge([]byte(doc), []byte(`{machine: {network: {interfaces: [{interface: eth1, mtu: 9000}]}}}`))
	if err != nil {
		t.Fatal(err)
	}
	sameYAML(t, got, `{machine: {network: {interfaces: [{interface: eth0, dhcp: true}, {interface: eth1, mtu: 9000}]}}}`)
}

func TestStrategicMergeErrors(t *testing.T) {
	for _, tc := range []struct{ name, doc, patch, want string }{
		{"item without key", `{machine: {network: {interfaces: [{interface: eth0}]}}}`, `{machine: {network: {interfaces: [{mtu: 1}]}}}`,
			"machine.network.interfaces[0]: every item needs interface"},
		{"route without network", `{machine: {network: {interfaces: [{interface: eth0, routes: []}]}}}`, `{machine: {network: {interfaces: [{interface: eth0, routes: [{metric: 1}]}]}}}`,
			"machine.network.interfaces[].routes[0]: every item needs network"},
		{"patch not a mapping", `{a: 1}`, `[a]`, "must both be mappings"},
		{"directive other than delete", `{machine: {network: {interfaces: [{interface: eth0}]}}}`, `{machine: {network: {interfaces: [{interface: eth0, $patch: replace}]}}}`,
			`machine.network.interfaces[0].$patch: want delete, got "replace"`},
		{"delete with fields", `{machine: {network: {interfaces: [{interface: eth0}]}}}`, `{machine: {network: {interfaces: [{interface: eth0, mtu: 1, $patch: delete}]}}}`,
			"machine.network.interfaces[0]: an item with $patch: delete holds only interface"},
		{"directive in a mapping", `{machine: {}}`, `{machine: {network: {$patch: delete}}}`,
			"machine.network.$patch: $patch is allowed only in an item of a list that merges by key (machine.network.interfaces by interface,"},
		{"alias in patch", `{a: 1}`, "b: &x 1\nc: *x\n", "patch: line 2: YAML aliases"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ApplyStrategicMerge([]byte(tc.doc), []byte(tc.patch))
			wantErrorContaining(t, err, tc.want)
		})
	}
}

// "$patch: delete" removes the item of that key from a keyed list, at either level, and
// leaves the others as they were.
func TestStrategicMergeDeletesListItems(t *testing.T) {
	doc := `{machine: {network: {interfaces: [{interface: eth0, dhcp: true, routes: [{network: 0.0.0.0/0}, {network: 10.8.0.0/16}]}, {interface: eth1}, {interface: eth2}]}}}`
	for _, tc := range []struct{ name, patch, want string }{
		{"interface", `{machine: {network: {interfaces: [{interface: eth1, $patch: delete}]}}}`,
			`{machine: {network: {interfaces: [{interface: eth0, dhcp: true, routes: [{network: 0.0.0.0/0}, {network: 10.8.0.0/16}]}, {interface: eth2}]}}}`},
		{"route", `{machine: {network: {interfaces: [{interface: eth0, routes: [{network: 0.0.0.0/0, $patch: delete}]}]}}}`,
			`{machine: {network: {interfaces: [{interface: eth0, dhcp: true, routes: [{network: 10.8.0.0/16}]}, {interface: eth1}, {interface: eth2}]}}}`},
		{"absent item", `{machine: {network: {interfaces: [{interface: eth9, $patch: delete}]}}}`, doc},
		{"delete then merge", `{machine: {network: {interfaces: [{interface: eth0, $patch: delete}, {interface: eth2, mtu: 9000}]}}}`,
			`{machine: {network: {interfaces: [{interface: eth1}, {interface: eth2, mtu: 9000}]}}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ApplyStrategicMerge([]byte(doc), []byte(tc.patch))
			if err != nil {
				t.Fatal(err)
			}
			sameYAML(t, got, tc.want)
		})
	}
}
