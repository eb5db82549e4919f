package reporules

import (
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
)

// Layout says which packages of a module are on which side of the line between the
// builder and the node, and which packages both sides may import. Paths are relative to
// the module; "x/..." names x and every package below it.
type Layout struct {
	Module  string   // module path with a trailing slash
	Builder []string // the builder side
	Node    []string // the node side
	// SharedLeaves may be imported from either side. Each must be a leaf in fact: it
	// reaches (through its imports, however indirectly) no package of either side that is
	// not itself a shared leaf, so importing it brings nothing else of the other side.
	SharedLeaves []string
}

// Kiln is this repository's layout (DESIGN.md, "Layout"): the one list of shared leaves.
var Kiln = Layout{
	Module:  "github.com/kiln-os/kiln/",
	Builder: []string{"kernel/...", "rootfs/...", "uki/...", "bootloader/...", "pipeline/...", "netboot/...", "cmd/kiln/..."},
	Node:    []string{"initd/...", "api/apid/...", "api/trustd/...", "cmd/machined/..."},
	SharedLeaves: []string{
		"measure/...",       // PCR arithmetic and phase words, event log, quote verification
		"config/...",        // the machine config's types, validation and generation
		"internal/...",      // small helpers: GUIDs, PKCS#7, strict YAML, atomic files, ...
		"kernel/kspp",       // the KSPP table: checked at build time and at boot
		"bootloader/efivar", // EFI variables: the builder writes .auth files, machined reads efivarfs
		"bootloader/entry",  // UKI names and boot counting: the builder names, machined blesses
		"uki/pe",            // PE parsing: the builder assembles UKIs, machined checks an upgrade's
		"uki/authenticode",  // Authenticode: the builder signs, machined verifies an upgrade (DESIGN, "Upgrade")
		"initd/events",      // the boot event: machined writes it, the QEMU harness reads it
		// The installer (initd/install) writes the disk the builder writes, with the
		// builder's writers (DESIGN: "the FAT/GPT writers once the installer needs
		// them"), and reads the UKI off the live ISO with their readers.
		"pipeline/disk/layout", // EFI/STATE/EPHEMERAL sizes and labels, defined once
		"pipeline/disk/gpt",    // GPT: the builder's disk.raw, the installer's disk
		"pipeline/disk/fat",    // FAT: the ESP writer, and the reader of the ISO's boot image
		"pipeline/disk/iso",    // ISO 9660: the builder writes kiln.iso, the installer reads its boot image
	},
}

// A Violation is one package that reaches, through its imports, a package it must not.
type Violation struct {
	From, To string   // module-relative package paths
	Chain    []string // From, the packages in between, To
	Rule     string
}

func (v Violation) String() string {
	return fmt.Sprintf("%s: %s (imports %s)", v.From, v.Rule, strings.Join(v.Chain, " → "))
}

// The rules CheckImports applies.
const (
	RuleBuilderReachesNode = "the builder reaches a node package that is not a shared leaf"
	RuleNodeReachesBuilder = "the node reaches a builder package that is not a shared leaf"
	RuleLeafReachesSide    = "a shared leaf reaches a builder or node package that is not a shared leaf"
)

func match(pkg string, patterns []string) bool {
	for _, p := range patterns {
		if tree, ok := strings.CutSuffix(p, "/..."); ok {
			if pkg == tree || strings.HasPrefix(pkg, tree+"/") {
				return true
			}
		} else if pkg == p {
			return true
		}
	}
	return false
}

// CheckImports returns every violation of the layout in graph (module-relative package
// path → the module-relative packages its non-test files import), sorted by package.
func (l Layout) CheckImports(graph map[string][]string) []Violation {
	var out []Violation
	for _, pkg := range sortedKeys(graph) {
		rule, forbidden := l.ruleFor(pkg)
		if forbidden == nil {
			continue
		}
		for _, chain := range reach(graph, pkg, forbidden) {
			out = append(out, Violation{From: pkg, To: chain[len(chain)-1], Chain: chain, Rule: rule})
		}
	}
	return out
}

// ruleFor returns the rule pkg falls under and what it must not reach (nil: no rule).
func (l Layout) ruleFor(pkg string) (string, func(string) bool) {
	notLeaf := func(sides []string) func(string) bool {
		return func(p string) bool { return match(p, sides) && !match(p, l.SharedLeaves) }
	}
	switch {
	case match(pkg, l.SharedLeaves):
		return RuleLeafReachesSide, notLeaf(slices.Concat(l.Builder, l.Node))
	case match(pkg, l.Builder):
		return RuleBuilderReachesNode, notLeaf(l.Node)
	case match(pkg, l.Node):
		return RuleNodeReachesBuilder, notLeaf(l.Builder)
	}
	return "", nil
}

// reach walks the imports of from breadth first and returns, for each forbidden package
// it reaches, the shortest chain of imports that gets there.
func reach(graph map[string][]string, from string, forbidden func(string) bool) [][]string {
	parent := map[string]string{from: ""}
	queue := []string{from}
	var found [][]string
	for len(queue) > 0 {
		pkg := queue[0]
		queue = queue[1:]
		for _, imp := range graph[pkg] {
			if _, seen := parent[imp]; seen {
				continue
			}
			parent[imp] = pkg
			if forbidden(imp) {
				found = append(found, chainTo(parent, imp))
				continue // one report per forbidden package; what it imports is its own report
			}
			queue = append(queue, imp)
		}
	}
	return found
}

func chainTo(parent map[string]string, pkg string) []string {
	var chain []string
	for p := pkg; p != ""; p = parent[p] {
		chain = append(chain, p)
	}
	slices.Reverse(chain)
	return chain
}

// StaleLeaves returns the entries of SharedLeaves that name no package in graph, so that
// the list cannot keep a package that was moved or deleted.
func (l Layout) StaleLeaves(graph map[string][]string) []string {
	var stale []string
	pkgs := sortedKeys(graph)
	for _, leaf := range l.SharedLeaves {
		if !slices.ContainsFunc(pkgs, func(pkg string) bool { return match(pkg, []string{leaf}) }) {
			stale = append(stale, leaf)
		}
	}
	return stale
}

// ImportGraph parses the non-test Go files under root (see SourceFiles) and returns each
// package's imports within the module. Files of every build tag count: a rule must hold
// on every platform. Test files do not: a test may check one side against the other (a
// seal against the builder's prediction).
func (l Layout) ImportGraph(root string) (map[string][]string, error) {
	files, err := SourceFiles(root)
	if err != nil {
		return nil, err
	}
	graph := map[string][]string{}
	for pkg, paths := range files {
		graph[pkg] = nil // a package without module imports is still a package
		for _, p := range paths {
			f, err := parser.ParseFile(token.NewFileSet(), p, nil, parser.ImportsOnly)
			if err != nil {
				return nil, err
			}
			for _, imp := range f.Imports {
				if dep, ok := strings.CutPrefix(strings.Trim(imp.Path.Value, `"`), l.Module); ok {
					graph[pkg] = append(graph[pkg], dep)
				}
			}
		}
		slices.Sort(graph[pkg])
		graph[pkg] = slices.Compact(graph[pkg])
	}
	return graph, nil
}

// SourceFiles maps each package folder under root (relative, slash-separated) to its
// non-test Go files, skipping testdata and folders whose names start with "." or "_", as
// the go command does.
func SourceFiles(root string) (map[string][]string, error) {
	out := map[string][]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() && p != root && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		rel, err := filepath.Rel(root, filepath.Dir(p))
		out[filepath.ToSlash(rel)] = append(out[filepath.ToSlash(rel)], p)
		return err
	})
	return out, err
}

func sortedKeys(m map[string][]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
