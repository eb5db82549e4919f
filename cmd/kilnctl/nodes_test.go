package main

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/kiln-os/kiln/client"
)

// -n a,b runs the command on both nodes, every line prefixed with its node, and a node
// that cannot be reached fails the command by name without hiding the others' output.
func TestSeveralNodes(t *testing.T) {
	ca := newTestCA(t)
	a, b := serveConfigured(t, ca, &fakeNode{}), serveConfigured(t, ca, &fakeNode{})
	kc := writeContext(t, ca, ca.clientCert(t, "os:reader", time.Time{}), a)

	r := runCtl(t, "--kiln-config", kc, "version", "-n", a+","+b)
	if r.err != nil {
		t.Fatalf("%v\n%s", r.err, r.stderr)
	}
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	for _, node := range []string{a, b} {
		if !slices.Contains(lines, node+": VERSION      v0.1.0") {
			t.Errorf("no version line of %s:\n%s", node, r.stdout)
		}
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, a+": ") && !strings.HasPrefix(l, b+": ") {
			t.Errorf("line without a node prefix: %q", l)
		}
	}

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := lis.Addr().String()
	lis.Close()
	r = runCtl(t, "--kiln-config", kc, "--nodes="+a+","+dead, "version")
	if r.err == nil || !strings.Contains(r.err.Error(), dead+": ") || strings.Contains(r.err.Error(), a+": ") {
		t.Errorf("err = %v, want a failure naming %s alone", r.err, dead)
	}
	if !strings.Contains(r.stdout, a+": VERSION") {
		t.Errorf("the reachable node's output is missing:\n%s", r.stdout)
	}
}

func TestSeveralNodesRefusals(t *testing.T) {
	file := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(file, []byte("version: v1alpha1\n"), 0o600)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-n", "a,,b", "version"}, "empty node"},
		{[]string{"-n", "a,a", "version"}, "names a twice"},
		{[]string{"edit", "machineconfig", "-n", "a,b"}, "one node at a time"},
		{[]string{"-n", "127.0.0.1:1,127.0.0.1:2", "apply-config", "-f", "-", "--insecure"}, "stdin cannot be read with several nodes"},
	} {
		r := runCtl(t, tc.args...)
		if r.err == nil || !strings.Contains(r.err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want %q", tc.args, r.err, tc.want)
		}
	}
	// Local commands ignore -n: validate checks the file once, with no prefix.
	r := runCtl(t, "validate", "-f", file, "-n", "a,b")
	if strings.Contains(r.stdout+r.stderr, "a: ") {
		t.Errorf("validate fanned out:\n%s%s", r.stdout, r.stderr)
	}
}

func TestPrefixWriterKeepsLinesWhole(t *testing.T) {
	var out syncBuffer
	w := newPrefixWriter(&lockedWriter{w: &out}, "n1")
	w.Write([]byte("par"))
	w.Write([]byte("tial\nnext\nlast"))
	if got := out.String(); got != "n1: partial\nn1: next\n" {
		t.Errorf("before Flush: %q", got)
	}
	w.Flush()
	if got := out.String(); got != "n1: partial\nn1: next\nn1: last\n" {
		t.Errorf("after Flush: %q", got)
	}
}

func TestNodesFlag(t *testing.T) {
	for _, tc := range []struct {
		args  []string
		value string
		found bool
	}{
		{[]string{"-n", "a,b", "version"}, "a,b", true},
		{[]string{"version", "--nodes=a"}, "a", true},
		{[]string{"-n=x", "version", "-n", "y"}, "y", true},
		{[]string{"version", "--", "-n", "z"}, "", false},
		{[]string{"version"}, "", false},
	} {
		v, _, found := nodesFlag(tc.args)
		if v != tc.value || found != tc.found {
			t.Errorf("%q: %q %v, want %q %v", tc.args, v, found, tc.value, tc.found)
		}
	}
}

// With -o json each node's answer is one JSON object carrying its node; with -o yaml one
// document with the same keys.
func TestSeveralNodesStructured(t *testing.T) {
	ca := newTestCA(t)
	a, b := serveConfigured(t, ca, &fakeNode{}), serveConfigured(t, ca, &fakeNode{})
	kc := writeContext(t, ca, ca.clientCert(t, "os:reader", time.Time{}), a)
	r := runCtl(t, "--kiln-config", kc, "-o", "json", "version", "-n", a+","+b)
	if r.err != nil {
		t.Fatalf("%v\n%s", r.err, r.stderr)
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var obj struct {
			Node   string          `json:"node"`
			Output json.RawMessage `json:"output"`
		}
		if err := json.Unmarshal([]byte(line), &obj); err != nil || !json.Valid(obj.Output) || obj.Output[0] != '{' {
			t.Fatalf("line %q: %v, want {node, output: the version object}", line, err)
		}
		seen[obj.Node] = true
	}
	if !seen[a] || !seen[b] || len(seen) != 2 {
		t.Errorf("nodes in the JSON output: %v", seen)
	}
	r = runCtl(t, "--kiln-config", kc, "-o", "yaml", "version", "-n", a+","+b)
	if r.err != nil {
		t.Fatal(r.err)
	}
	dec := yaml.NewDecoder(strings.NewReader(r.stdout))
	docs := 0
	for {
		var doc struct {
			Node   string         `yaml:"node"`
			Output map[string]any `yaml:"output"`
		}
		if err := dec.Decode(&doc); err != nil {
			break
		}
		if (doc.Node != a && doc.Node != b) || len(doc.Output) == 0 {
			t.Errorf("YAML document %+v", doc)
		}
		docs++
	}
	if docs != 2 {
		t.Errorf("%d YAML documents, want 2:\n%s", docs, r.stdout)
	}
}

func TestJSONValues(t *testing.T) {
	for in, want := range map[string]string{
		`{"a":1}`:                `{"a":1}`,
		"{\"a\":1}\n{\"a\":2}\n": `[{"a":1},{"a":2}]`,
		"not json":               `"not json"`,
		"":                       `null`,
	} {
		got, err := json.Marshal(jsonValues([]byte(in)))
		if err != nil || string(got) != want {
			t.Errorf("jsonValues(%q) = %s, %v; want %s", in, got, err, want)
		}
	}
}

// A context that lists nodes runs commands on them without -n; -n still wins.
func TestContextNodes(t *testing.T) {
	ca := newTestCA(t)
	a, b := serveConfigured(t, ca, &fakeNode{}), serveConfigured(t, ca, &fakeNode{})
	crt, key := certPEM(t, ca.clientCert(t, "os:reader", time.Time{}))
	kc := &client.Config{}
	kc.Merge("test", &client.Context{Endpoints: []string{a}, Nodes: []string{a, b}, CA: ca.pem(), Crt: crt, Key: key})
	path := filepath.Join(t.TempDir(), "config")
	if err := kc.Save(path); err != nil {
		t.Fatal(err)
	}
	r := runCtl(t, "version", "--kiln-config", path)
	if r.err != nil {
		t.Fatalf("%v\n%s", r.err, r.stderr)
	}
	for _, node := range []string{a, b} {
		if !strings.Contains(r.stdout, node+": VERSION") {
			t.Errorf("no answer of the context's node %s:\n%s", node, r.stdout)
		}
	}
	r = runCtl(t, "--kiln-config", path, "-n", b, "version")
	if r.err != nil || strings.Contains(r.stdout, a+": ") || !strings.Contains(r.stdout, "VERSION") {
		t.Errorf("-n beside the context's nodes: %v\n%s", r.err, r.stdout)
	}
}
