package config

import (
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// sameYAML compares two YAML documents by value.
func sameYAML(t *testing.T, got []byte, want string) {
	t.Helper()
	var gotValue, wantValue any
	if err := yaml.Unmarshal(got, &gotValue); err != nil {
		t.Fatalf("result is not YAML: %v\n%s", err, got)
	}
	if err := yaml.Unmarshal([]byte(want), &wantValue); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gotValue, wantValue) {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// The cases of RFC 6902 Appendix A, each on data of our own.
func TestJSONPatchRFC6902AppendixA(t *testing.T) {
	for _, tc := range []struct{ name, doc, patch, want string }{
		{"A.1 add an object member", `{kiln: oven}`, `[{"op": "add", "path": "/glaze", "value": "celadon"}]`, `{kiln: oven, glaze: celadon}`},
		{"A.2 add an array element", `{pots: [bowl, vase]}`, `[{"op": "add", "path": "/pots/1", "value": "jug"}]`, `{pots: [bowl, jug, vase]}`},
		{"A.3 remove an object member", `{kiln: oven, glaze: celadon}`, `[{"op": "remove", "path": "/glaze"}]`, `{kiln: oven}`},
		{"A.4 remove an array element", `{pots: [bowl, jug, vase]}`, `[{"op": "remove", "path": "/pots/1"}]`, `{pots: [bowl, vase]}`},
		{"A.5 replace a value", `{kiln: oven, cone: 6}`, `[{"op": "replace", "path": "/cone", "value": 10}]`, `{kiln: oven, cone: 10}`},
		{"A.6 move a value", `{firing: {cone: 6, hours: 8}, log: {by: ann}}`, `[{"op": "move", "from": "/firing/hours", "path": "/log/hours"}]`, `{firing: {cone: 6}, log: {by: ann, hours: 8}}`},
		{"A.7 move an array element", `{pots: [bowl, jug, vase, cup]}`, `[{"op": "move", "from": "/pots/1", "path": "/pots/3"}]`, `{pots: [bowl, vase, cup, jug]}`},
		{"A.8 test a value: success", `{clay: stoneware, cones: [5, 6, {hot: true}]}`, `[{"op": "test", "path": "/clay", "value": "stoneware"}, {"op": "test", "path": "/cones", "value": [5.0, 6, {"hot": true}]}]`, `{clay: stoneware, cones: [5, 6, {hot: true}]}`},
		{"A.10 add a nested member object", `{kiln: oven}`, `[{"op": "add", "path": "/shelf", "value": {"height": 30}}]`, `{kiln: oven, shelf: {height: 30}}`},
		{"A.11 ignore unrecognized members", `{kiln: oven}`, `[{"op": "add", "path": "/cone", "value": 6, "why": "glaze test"}]`, `{kiln: oven, cone: 6}`},
		{"A.14 ~ escape ordering", `{"/": 9, "~1": 10}`, `[{"op": "test", "path": "/~01", "value": 10}, {"op": "add", "path": "/~1x", "value": 1}]`, `{"/": 9, "~1": 10, "/x": 1}`},
		{"A.16 add an array value", `{pots: [bowl]}`, `[{"op": "add", "path": "/pots/-", "value": ["lid", "cup"]}]`, `{pots: [bowl, [lid, cup]]}`},
		{"copy", `{a: {b: [1]}}`, `[{"op": "copy", "from": "/a", "path": "/c"}, {"op": "add", "path": "/c/b/-", "value": 2}]`, `{a: {b: [1]}, c: {b: [1, 2]}}`},
		{"replace the whole document", `{a: 1}`, `[{"op": "replace", "path": "", "value": {"b": 2}}]`, `{b: 2}`},
		{"add at the end by index", `{pots: [bowl]}`, `[{"op": "add", "path": "/pots/1", "value": cup}]`, `{pots: [bowl, cup]}`},
		{"YAML patch", `{a: 1}`, "- op: add\n  path: /b\n  value: x\n", `{a: 1, b: x}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ApplyJSONPatch([]byte(tc.doc), []byte(tc.patch))
			if err != nil {
				t.Fatal(err)
			}
			sameYAML(t, got, tc.want)
		})
	}
}

func TestJSONPatchErrorsNameTheOperation(t *testing.T) {
	for _, tc := range []struct{ name, doc, patch, want string }{
		{"A.9 test a value: error", `{clay: stoneware}`, `[{"op": "test", "path": "/clay", "value": "porcelain"}]`, "patch operation 0 (test /clay): test failed"},
		{"A.12 add to a nonexistent target", `{kiln: oven}`, `[{"op": "add", "path": "/shelf/height", "value": 30}]`, "patch operation 0 (add /shelf/height): path not found"},
		{"A.13 invalid patch document", `{a: 1}`, `[{"op": "add", "path": "/b", "value": 1, "op": "remove"}]`, "patch operation 0:"},
		{"A.15 string is not a number", `{cone: "10"}`, `[{"op": "test", "path": "/cone", "value": 10}]`, "test failed"},
		{"remove missing", `{a: 1}`, `[{"op": "add", "path": "/b", "value": 1}, {"op": "remove", "path": "/c"}]`, "patch operation 1 (remove /c): path not found"},
		{"replace missing", `{a: 1}`, `[{"op": "replace", "path": "/c", "value": 1}]`, "path not found"},
		{"index out of range", `{a: [1]}`, `[{"op": "add", "path": "/a/2", "value": 1}]`, "index 2 is out of range"},
		{"leading zero", `{a: [1, 2]}`, `[{"op": "remove", "path": "/a/01"}]`, `"01" is not an array index`},
		{"dash outside add", `{a: [1]}`, `[{"op": "remove", "path": "/a/-"}]`, `"-" is not an array index`},
		{"move into itself", `{a: {b: 1}}`, `[{"op": "move", "from": "/a", "path": "/a/b/c"}]`, "cannot move a value into itself"},
		{"value missing", `{a: 1}`, `[{"op": "add", "path": "/b"}]`, `"value" is missing`},
		{"unknown op", `{a: 1}`, `[{"op": "merge", "path": "/a"}]`, `unknown op "merge"`},
		{"bad pointer", `{a: 1}`, `[{"op": "remove", "path": "a"}]`, "must be empty or start with /"},
		{"bad escape", `{a: 1}`, `[{"op": "remove", "path": "/~2"}]`, "~ must be followed by 0 or 1"},
		{"remove root", `{a: 1}`, `[{"op": "remove", "path": ""}]`, "cannot remove the whole document"},
		{"into a scalar", `{a: 1}`, `[{"op": "add", "path": "/a/b", "value": 1}]`, "the parent is a scalar"},
		{"patch not a list", `{a: 1}`, `{"op": "add"}`, "expected a list of operations"},
		{"document not YAML", `{a: [`, `[]`, "document: config is not valid YAML"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ApplyJSONPatch([]byte(tc.doc), []byte(tc.patch))
			wantErrorContaining(t, err, tc.want)
		})
	}
}

func TestJSONPatchOnAConfigKeepsItsLayout(t *testing.T) {
	doc := encodeForTest(t, fullConfig(t))
	patch := `[
		{"op": "replace", "path": "/machine/network/interfaces/0/mtu", "value": 9000},
		{"op": "add", "path": "/machine/network/nameservers/-", "value": "9.9.9.9"},
		{"op": "add", "path": "/machine/sysctls/vm.max_map_count", "value": "262144"}
	]`
	got, err := ApplyJSONPatch(doc, []byte(patch))
	if err != nil {
		t.Fatal(err)
	}
	c, err := Decode(got)
	if err != nil {
		t.Fatalf("patched config does not decode: %v\n%s", err, got)
	}
	if c.Machine.Network.Interfaces[0].MTU != 9000 || len(c.Machine.Network.Nameservers) != 2 || c.Machine.Sysctls["vm.max_map_count"] != "262144" {
		t.Errorf("patch not applied: %+v", c.Machine)
	}
	if err := c.Validate(); err != nil {
		t.Error(err)
	}
	if strings.Contains(string(got), "{") || !strings.Contains(string(got), `"262144"`) {
		t.Errorf("patched values not in block style or string lost its quotes:\n%s", got)
	}
}
