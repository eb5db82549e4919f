package strictyaml

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

type inner struct {
	Size  uint32 `yaml:"size"`
	Quiet bool   `yaml:"quiet"`
}

type doc struct {
	Name   string            `yaml:"name"`
	Epoch  int64             `yaml:"epoch"`
	Inner  inner             `yaml:"inner"`
	Tags   []string          `yaml:"tags"`
	Labels map[string]string `yaml:"labels"`
	Hidden string            `yaml:"-"`
}

func decode(t *testing.T, text string, dst *doc) []Problem {
	t.Helper()
	root, err := Parse([]byte(text))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return Decode(root, dst)
}

// Decode fills what the document names and keeps what it does not (the caller's defaults).
func TestDecodeOverDefaults(t *testing.T) {
	d := doc{Name: "default", Epoch: 7}
	problems := decode(t, "epoch: 1700000000\ninner: {size: 3}\ntags: [a, b]\nlabels: {n: 1, b: yes}\nname: null\n", &d)
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	if d.Name != "default" || d.Epoch != 1700000000 || d.Inner.Size != 3 || strings.Join(d.Tags, ",") != "a,b" ||
		d.Labels["n"] != "1" || d.Labels["b"] != "yes" {
		t.Errorf("decoded %+v", d)
	}
}

// Every problem is reported, in document order, with its line and path.
func TestDecodeReportsEveryProblem(t *testing.T) {
	var d doc
	problems := decode(t, "name: 12\nbogus: &a x\ninner:\n  size: -1\n  size: 2\nepoch: *a\nhidden: x\n", &d)
	known := "unknown field (known: name, epoch, inner, tags, labels)"
	want := []Problem{
		{1, "name", "cannot use 12 as string: quote it", false},
		{2, "bogus", known, true},
		{4, "inner.size", "cannot use -1 as integer: out of range", false},
		{5, "inner.size", "duplicate key (first at line 4)", false},
		{6, "epoch", "YAML aliases (*a) are not allowed: write the value out", false},
		{7, "hidden", known, true},
	}
	if !slices.Equal(problems, want) {
		t.Errorf("problems:\n%+v\nwant\n%+v", problems, want)
	}
}

func TestParse(t *testing.T) {
	for text, want := range map[string]error{"": ErrEmpty, "# comment\n": ErrEmpty, "a: 1\n---\na: 2\n": ErrDocuments} {
		if _, err := Parse([]byte(text)); !errors.Is(err, want) {
			t.Errorf("Parse(%q) = %v, want %v", text, err, want)
		}
	}
	_, err := Parse([]byte("a: 1\n  b: [\n"))
	var syntax *SyntaxError
	if !errors.As(err, &syntax) || syntax.Line != 2 || strings.HasPrefix(syntax.Msg, "yaml:") {
		t.Errorf("Parse of bad YAML = %#v, want a SyntaxError on line 2", err)
	}
}

// A type the decoder cannot fill is the caller's bug, found by the first test that decodes.
func TestDecodeUnsupportedTypePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic for a float field")
		}
	}()
	root, _ := Parse([]byte("f: 1.5\n"))
	var bad struct {
		F float64 `yaml:"f"`
	}
	Decode(root, &bad)
}
