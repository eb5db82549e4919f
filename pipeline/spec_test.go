package pipeline

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDefaultsWhenEmpty(t *testing.T) {
	for _, doc := range []string{"", "# only a comment\n"} {
		s, err := ParseSpec("kiln.yaml", []byte(doc))
		if err != nil {
			t.Fatalf("%q: %v", doc, err)
		}
		if s != Defaults() {
			t.Errorf("%q: spec = %+v, want defaults", doc, s)
		}
	}
}

func TestOverridesKeepOtherDefaults(t *testing.T) {
	s, err := ParseSpec("kiln.yaml", []byte("version: 1.2.3\nkernel:\n  cmdline: console=ttyS0\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Version != "1.2.3" || s.Kernel.Cmdline != "console=ttyS0" || s.Kernel.Fragments != "kernel/config" || s.Name != "kiln" {
		t.Errorf("spec = %+v", s)
	}
}

func TestCheckedInSpecParses(t *testing.T) {
	s, err := LoadSpec(filepath.Join("..", "kiln.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Kernel.Cmdline != DefaultCmdline {
		t.Errorf("kiln.yaml cmdline %q differs from DefaultCmdline %q", s.Kernel.Cmdline, DefaultCmdline)
	}
}

// Every bad spec gets a one-line error naming file, line and field.
func TestSpecErrors(t *testing.T) {
	cases := []struct {
		name, doc, want string
	}{
		{"unknown field", "name: kiln\nbogus: 1\n", "kiln.yaml:2: bogus: unknown field"},
		{"unknown nested field", "kernel:\n  cmdline: x\n  fragmnts: y\n", "kiln.yaml:3: kernel.fragmnts: unknown field"},
		{"bad type", "name: kiln\nsourceDateEpoch: yesterday\n", `kiln.yaml:2: sourceDateEpoch: cannot use "yesterday" as integer`},
		{"mapping for scalar", "version:\n  major: 1\n", "kiln.yaml:2: version: expected a string, got a mapping"},
		{"scalar for mapping", "kernel: big\n", `kiln.yaml:1: kernel: expected a mapping (fragments, cmdline), got "big"`},
		{"bad value", "rootfs:\n  compression: lz4\n", `kiln.yaml:2: rootfs.compression: "lz4" is not supported`},
		{"budget not positive", "uki:\n  maxBytes: 0\n", `kiln.yaml:2: uki.maxBytes: 0 must be a positive number of bytes`},
		{"plus in version", "version: 1.0+3\n", "kiln.yaml:1: version:"},
		{"negative epoch", "sourceDateEpoch: -5\n", "kiln.yaml:1: sourceDateEpoch: must be >= 0"},
		{"syntax", "name: kiln\n  bad indent: [\n", "kiln.yaml:"},
		{"duplicate key", "name: kiln\nname: other\n", "kiln.yaml:2: name: duplicate key (first at line 1)"},
		{"unquoted number", "version: 1.10\n", "kiln.yaml:1: version: cannot use 1.10 as string: quote it"},
		{"alias", "name: &n kiln\noutput: *n\n", "kiln.yaml:2: output: YAML aliases (*n) are not allowed"},
		{"two documents", "name: kiln\n---\nname: other\n", "kiln.yaml:1: more than one YAML document"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseSpec("kiln.yaml", []byte(c.doc))
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q, want it to contain %q", err, c.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
			var se *SpecError
			if !errors.As(err, &se) || se.Line == 0 {
				t.Errorf("error %v is not a SpecError with a line", err)
			}
		})
	}
}

func TestMissingSpecFile(t *testing.T) {
	_, err := LoadSpec(filepath.Join(t.TempDir(), "nope.yaml"))
	if err == nil || !strings.Contains(err.Error(), "nope.yaml: no such spec file") {
		t.Fatalf("err = %v", err)
	}
}

func TestSourceDateEpochNeverFromClock(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "")
	os.Unsetenv("SOURCE_DATE_EPOCH")
	b := &Build{Spec: Defaults(), RepoDir: t.TempDir()} // not a git checkout
	if _, err := b.sourceDateEpoch(t.Context()); !errors.Is(err, ErrNoEpoch) {
		t.Fatalf("err = %v, want ErrNoEpoch", err)
	}
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")
	if n, err := b.sourceDateEpoch(t.Context()); err != nil || n != 1700000000 {
		t.Fatalf("from env: %d, %v", n, err)
	}
	b.Spec.SourceDateEpoch = 42
	if n, _ := b.sourceDateEpoch(t.Context()); n != 42 {
		t.Fatalf("spec should win, got %d", n)
	}
	t.Setenv("SOURCE_DATE_EPOCH", "soon")
	b.Spec.SourceDateEpoch = 0
	if _, err := b.sourceDateEpoch(t.Context()); err == nil {
		t.Fatal("bad SOURCE_DATE_EPOCH accepted")
	}
}
