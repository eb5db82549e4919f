package reporules

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/kiln-os/kiln/"

// packages maps each package directory (relative to the repo root) to its non-test files.
func packages(t *testing.T) map[string][]string {
	t.Helper()
	root := filepath.Join("..", "..")
	out := map[string][]string{}
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() && p != root && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go") {
			rel, _ := filepath.Rel(root, filepath.Dir(p))
			out[filepath.ToSlash(rel)] = append(out[filepath.ToSlash(rel)], p)
		}
		return nil
	})
	return out
}

func TestEveryPackageHasADoc(t *testing.T) {
	for dir, files := range packages(t) {
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

// The builder side never imports the node side (DESIGN.md "Layout"); shared leaves
// (initd/events, kernel/kspp, measure/..., internal/...) are allowed both ways.
func TestBuilderDoesNotImportNode(t *testing.T) {
	builder := []string{"kernel", "rootfs", "uki", "bootloader", "pipeline", "cmd/kiln"}
	node := []string{"initd/"}
	sharedFromNode := []string{"initd/events"}
	for dir, files := range packages(t) {
		if !hasPrefixAny(dir, builder) {
			continue
		}
		for _, f := range files {
			file, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range file.Imports {
				path := strings.Trim(imp.Path.Value, `"`)
				rel, ok := strings.CutPrefix(path, module)
				if ok && hasPrefixAny(rel, node) && !hasPrefixAny(rel, sharedFromNode) {
					t.Errorf("%s imports node package %s", f, path)
				}
			}
		}
	}
}

func hasPrefixAny(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if s == strings.TrimSuffix(p, "/") || strings.HasPrefix(s, strings.TrimSuffix(p, "/")+"/") {
			return true
		}
	}
	return false
}
