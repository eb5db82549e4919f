package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestDecodeRoundTripsEncode(t *testing.T) {
	want := fullConfig(t)
	got, err := Decode(encodeForTest(t, want))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("decoded %+v\nwant %+v", got, want)
	}
	if err := got.Validate(); err != nil {
		t.Errorf("full config fails Validate: %v", err)
	}
}

func TestDecodeReportsEveryProblemWithLineAndPath(t *testing.T) {
	doc := `version: v1alpha1
machine:
  tpye: controlplane
  network:
    interfaces:
      - interface: eth0
        dhcp: yes
        mtu: "1500"
    hostname: 12
  sysctls: {a: 1, a: 2}
cluster: [x]
version: v1alpha1
`
	_, err := Decode([]byte(doc))
	var errs FieldErrors
	if !errors.As(err, &errs) {
		t.Fatalf("error %v is not FieldErrors", err)
	}
	want := []string{
		"line 3: machine.tpye: unknown field (known: type, token, ca,",
		`line 7: machine.network.interfaces[0].dhcp: cannot use "yes" as bool`,
		`line 8: machine.network.interfaces[0].mtu: cannot use "1500" as integer`,
		"line 9: machine.network.hostname: cannot use 12 as string: quote it",
		`line 10: machine.sysctls["a"]: duplicate key (first at line 10)`,
		"line 11: cluster: expected a mapping",
		"line 12: version: duplicate key (first at line 1)",
	}
	if len(errs) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%v", len(errs), len(want), err)
	}
	for i, e := range errs {
		if !strings.HasPrefix(e.Error(), want[i]) {
			t.Errorf("error %d = %q, want prefix %q", i, e, want[i])
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	for name, tc := range map[string]struct{ doc, want string }{
		"empty":            {"", "config is empty"},
		"comment only":     {"# nothing\n", "config is empty"},
		"bad YAML":         {"version: [", "not valid YAML"},
		"two documents":    {"version: v1alpha1\n---\nversion: v1alpha1\n", "more than one YAML document"},
		"alias":            {"version: &v v1alpha1\ncluster:\n  clusterName: *v\n", "line 3: cluster.clusterName: YAML aliases (*v)"},
		"list for string":  {"version: [a]\n", "line 1: version: expected a string, got a list"},
		"scalar for list":  {"machine:\n  certSANs: a\n", "line 2: machine.certSANs: expected a list"},
		"negative uint":    {"machine:\n  network:\n    interfaces: [{routes: [{metric: -1}]}]\n", "interfaces[0].routes[0].metric: cannot use -1 as integer: out of range"},
		"top is a list":    {"- a\n", "line 1: expected a mapping"},
		"non-scalar key":   {"? [a]\n: b\n", "mapping keys must be plain names"},
		"merge key":        {"machine:\n  <<: {type: worker}\n", "machine.<<: unknown field"},
		"sysctl as a list": {"machine:\n  sysctls: {a: [1]}\n", `machine.sysctls["a"]: expected a string`},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Decode([]byte(tc.doc))
			wantErrorContaining(t, err, tc.want)
		})
	}
}

func TestDecodeAcceptsNullsAndUnquotedSysctls(t *testing.T) {
	c, err := Decode([]byte("version: v1alpha1\nmachine:\n  install: ~\n  sysctls: {vm.swappiness: 10, kernel.x: true}\n  network:\n    interfaces: []\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Machine.Sysctls["vm.swappiness"] != "10" || c.Machine.Sysctls["kernel.x"] != "true" {
		t.Errorf("sysctls %v", c.Machine.Sysctls)
	}
	if c.Machine.Network.Interfaces != nil {
		t.Errorf("empty list decoded to %#v, want nil", c.Machine.Network.Interfaces)
	}
}
