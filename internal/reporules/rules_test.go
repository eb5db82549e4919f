package reporules

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestEveryPackageHasADoc(t *testing.T) {
	pkgs, err := SourceFiles(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	for dir, files := range pkgs {
		documented := false
		for _, f := range files {
			file, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.PackageClauseOnly|parser.ParseComments)
			if err != nil {
				t.Fatal(err)
			}
			if file.Doc != nil && strings.TrimSpace(file.Doc.Text()) != "" {
				documented = true
			}
		}
		if !documented {
			t.Errorf("package %s has no package doc (say what the room is and what it must not touch)", dir)
		}
	}
}

// The builder never reaches the node, the node never reaches the builder, and every
// shared leaf is a leaf (DESIGN.md "Layout"); the list of shared leaves is Kiln.SharedLeaves.
func TestImportLayers(t *testing.T) {
	graph, err := Kiln.ImportGraph(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range Kiln.CheckImports(graph) {
		t.Errorf("%v\n\tmove what it needs into a shared leaf, or, if %s is a leaf, add it to Kiln.SharedLeaves", v, v.To)
	}
	for _, leaf := range Kiln.StaleLeaves(graph) {
		t.Errorf("Kiln.SharedLeaves names %s, which is no package: remove it", leaf)
	}
}

// TestImportLayersFixture proves the checker fails: testdata/layers is a small tree with
// one crossing of each kind (direct, through a neutral package, through a shared leaf that
// is no leaf), next to imports the rules allow, and a stale entry in the list.
func TestImportLayersFixture(t *testing.T) {
	layout := Kiln
	layout.Module = "example.com/fixture/"
	layout.SharedLeaves = []string{"measure/...", "kernel/kspp", "bootloader/efivar", "initd/events", "gone/leaf"}
	graph, err := layout.ImportGraph(filepath.Join("testdata", "layers"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"bootloader/efivar: " + RuleLeafReachesSide + " (imports bootloader/efivar → measure/pcr → uki/pe)",
		"cmd/kiln: " + RuleBuilderReachesNode + " (imports cmd/kiln → qemu → initd/phase)",
		"initd/machined: " + RuleNodeReachesBuilder + " (imports initd/machined → kernel/build)",
		"measure/pcr: " + RuleLeafReachesSide + " (imports measure/pcr → uki/pe)",
		"pipeline: " + RuleBuilderReachesNode + " (imports pipeline → initd/stage1)",
	}
	var got []string
	for _, v := range layout.CheckImports(graph) {
		got = append(got, v.String())
	}
	if !slices.Equal(got, want) {
		t.Errorf("violations:\n\t%s\nwant:\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
	if stale := layout.StaleLeaves(graph); !slices.Equal(stale, []string{"gone/leaf"}) {
		t.Errorf("stale leaves %q, want [gone/leaf]", stale)
	}
}
