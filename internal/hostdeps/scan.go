package hostdeps

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
)

// Use is one host file or tool that Go code in the repository names.
type Use struct {
	Name    string // an absolute path, or a tool looked up on PATH
	Package string // the package the code names for it (oracle.Require), if any
	Where   string // file:line
}

// hostPrefixes are where Debian puts what a build or test reads from the host.
var hostPrefixes = []string{"/usr/", "/etc/", "/bin/", "/sbin/", "/lib/"}

// nodeSide are the packages whose non-test code runs inside the image: a path they name is
// a path on the node, not on the host.
var nodeSide = []string{"initd/", "cmd/machined/", "api/apid/", "api/trustd/"}

// NodePathMark, in a comment on the same line, says that the paths a test names there are
// on the node (in a VM, or in a fixture tree standing for the node's root), not on the host.
const NodePathMark = "hostdeps:node"

// self is this package: its tests name made-up host paths.
const self = "internal/hostdeps/"

// notDebian are tools that no Debian package provides here: the Go toolchain is the one
// prerequisite the README names (it runs `go` itself).
var notDebian = map[string]bool{"go": true}

// Scan lists the host tools and files that Go code under root names: the tool of every
// exec.Command, exec.CommandContext, exec.LookPath and oracle-style Require/requireTool
// call with a literal name, and every literal absolute path under a host prefix.
func Scan(root string) ([]Use, error) {
	var uses []Use
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != root && (strings.HasPrefix(d.Name(), ".") || strings.HasPrefix(d.Name(), "_") || d.Name() == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasPrefix(filepath.ToSlash(p), filepath.ToSlash(filepath.Join(root, self))) {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		found, err := scanFile(p, filepath.ToSlash(rel))
		uses = append(uses, found...)
		return err
	})
	return uses, err
}

func scanFile(path, rel string) ([]Use, error) {
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
	if err != nil {
		return nil, err
	}
	nodeLines := map[int]bool{} // lines marked NodePathMark: their paths are on the node
	for _, g := range file.Comments {
		for _, c := range g.List {
			if strings.Contains(c.Text, NodePathMark) {
				nodeLines[fset.Position(c.Pos()).Line] = true
			}
		}
	}
	onNode := !strings.HasSuffix(rel, "_test.go") && hasAnyPrefix(rel, nodeSide)
	var uses []Use
	ast.Inspect(file, func(n ast.Node) bool {
		where := func(p token.Pos) string { return rel + ":" + strconv.Itoa(fset.Position(p).Line) }
		switch n := n.(type) {
		case *ast.CallExpr:
			if u, ok := toolCall(n); ok && !onNode && !notDebian[u.Name] {
				u.Where = where(n.Pos())
				uses = append(uses, u)
			}
		case *ast.BasicLit:
			if s, ok := stringLit(n); ok && !onNode && !nodeLines[fset.Position(n.Pos()).Line] && isHostPath(s) {
				uses = append(uses, Use{Name: s, Where: where(n.Pos())})
			}
		}
		return true
	})
	return uses, nil
}

// toolCall recognises exec.Command("tool", ...), exec.CommandContext(ctx, "tool", ...),
// exec.LookPath("tool") and Require(t, "tool", "package") / requireTool(t, ...).
func toolCall(call *ast.CallExpr) (Use, bool) {
	name := calleeName(call.Fun)
	arg := func(i int) (string, bool) {
		if i >= len(call.Args) {
			return "", false
		}
		lit, ok := call.Args[i].(*ast.BasicLit)
		if !ok {
			return "", false
		}
		return stringLit(lit)
	}
	var tool, pkg string
	var ok bool
	switch name {
	case "exec.Command", "exec.LookPath":
		tool, ok = arg(0)
	case "exec.CommandContext":
		tool, ok = arg(1)
	case "oracle.Require", "requireTool":
		tool, ok = arg(1)
		pkg, _ = arg(2)
	}
	if !ok || tool == "" {
		return Use{}, false
	}
	return Use{Name: tool, Package: pkg}, true
}

func calleeName(fun ast.Expr) string {
	switch f := fun.(type) {
	case *ast.Ident:
		return f.Name
	case *ast.SelectorExpr:
		if x, ok := f.X.(*ast.Ident); ok {
			return x.Name + "." + f.Sel.Name
		}
	}
	return ""
}

func stringLit(lit *ast.BasicLit) (string, bool) {
	if lit.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(lit.Value)
	return s, err == nil
}

// isHostPath: an absolute file path under a host prefix (not a bare directory prefix, and
// not a command line or NUL-separated list).
func isHostPath(s string) bool {
	return hasAnyPrefix(s, hostPrefixes) && !strings.HasSuffix(s, "/") && !strings.ContainsAny(s, " \x00")
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// Unlisted returns the uses that name no listed file: a path must be listed as it is, a
// tool by its base name, and a tool whose code names a package must be listed under it.
func Unlisted(uses []Use, files []File) []Use {
	byPath := map[string]File{}
	byBase := map[string]File{}
	for _, f := range files {
		byPath[f.Path] = f
		byBase[filepath.Base(f.Path)] = f
	}
	var missing []Use
	for _, u := range uses {
		f, ok := byPath[u.Name]
		if !ok && !strings.HasPrefix(u.Name, "/") {
			f, ok = byBase[u.Name]
		}
		if !ok || (u.Package != "" && u.Package != f.Package) {
			missing = append(missing, u)
		}
	}
	return missing
}
