package config

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestApplyPatchTellsTheKindsApart(t *testing.T) {
	doc := "machine:\n  network:\n    interfaces:\n      - interface: eth0\n      - interface: eth1\n"
	for _, tc := range []struct{ name, patch, want string }{
		{"JSON array is RFC 6902", `[{"op": "remove", "path": "/machine/network/interfaces/0"}]`, `{machine: {network: {interfaces: [{interface: eth1}]}}}`},
		{"YAML list is RFC 6902", "- op: add\n  path: /machine/type\n  value: worker\n", `{machine: {network: {interfaces: [{interface: eth0}, {interface: eth1}]}, type: worker}}`},
		{"mapping is a strategic merge", `{machine: {network: {interfaces: [{interface: eth0, $patch: delete}]}}}`, `{machine: {network: {interfaces: [{interface: eth1}]}}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ApplyPatch([]byte(doc), []byte(tc.patch))
			if err != nil {
				t.Fatal(err)
			}
			sameYAML(t, got, tc.want)
		})
	}
	for patch, want := range map[string]string{
		"hello":                            `patch: expected a list of RFC 6902 operations or a mapping to merge, got "hello"`,
		"a: [":                             "patch: config is not valid YAML",
		`[{"op": "remove", "path": "/x"}]`: "patch operation 0 (remove /x)",
	} {
		_, err := ApplyPatch([]byte(doc), []byte(patch))
		wantErrorContaining(t, err, want)
	}
}

func TestUnredactRestoresWhatRedactHid(t *testing.T) {
	full := fullConfig(t)
	c := Redact(full)
	filled, err := Unredact(c, full)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, full) {
		t.Errorf("unredacted config differs from the original: %v", Diff(full, c))
	}
	want := []string{"machine.token", "machine.ca.key", "cluster.ca.key"}
	if !slices.Equal(filled, want) {
		t.Errorf("filled %v, want %v", filled, want)
	}
}

func TestUnredactKeepsChangesAndNamesWhatIsMissing(t *testing.T) {
	full := fullConfig(t)
	c := Redact(full)
	c.Machine.Token = "abcdef.0123456789abcdef"
	worker := *full
	worker.Cluster.CA = CA{Crt: full.Cluster.CA.Crt}
	filled, err := Unredact(c, &worker)
	if err == nil || !strings.Contains(err.Error(), "has none at cluster.ca.key") {
		t.Fatalf("err = %v, want one naming cluster.ca.key", err)
	}
	if c.Machine.Token != "abcdef.0123456789abcdef" || !slices.Equal(filled, []string{"machine.ca.key"}) {
		t.Errorf("token %q, filled %v: a changed secret must stay changed", c.Machine.Token, filled)
	}
}
