package iso

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

const (
	maxDirLevels   = 8   // ECMA-119 6.8.2.1; the root is level 1
	maxPathLength  = 255 // ECMA-119 6.8.2.1
	maxFileNameLen = 30  // name and extension, level 2
	maxDirNameLen  = 31
)

// node is a file or directory of the ISO tree.
type node struct {
	path      string // as given, for errors
	key       string // upper-cased name: what two entries may not share
	base, ext string // the identifier's parts, its sort key
	dir       bool
	data      []byte
	parent    *node
	children  []*node // sorted once the tree is built

	number int    // path table directory number, from 1
	extent uint32 // first block; 0 for an empty file
	size   uint32 // bytes; a directory's whole blocks
}

// id is the identifier as recorded: "NAME" for a directory, "NAME.EXT;1"
// for a file.
func (n *node) id() string {
	if n.dir {
		return n.base
	}
	return n.base + "." + n.ext + ";1"
}

// buildTree makes the tree of files, directories implied, children sorted.
func buildTree(files []File) (*node, error) {
	root := &node{dir: true, path: "/"}
	root.parent = root
	for _, f := range files {
		if err := root.add(f); err != nil {
			return nil, err
		}
	}
	root.sort()
	return root, nil
}

func (root *node) add(f File) error {
	names := strings.Split(strings.TrimPrefix(f.Path, "/"), "/")
	if len(names) > maxDirLevels {
		return fmt.Errorf("%w: %s is nested deeper than %d levels", ErrPath, f.Path, maxDirLevels)
	}
	if uint64(len(f.Data)) > math.MaxUint32 {
		return fmt.Errorf("%w: %s is %d bytes", ErrTooLarge, f.Path, len(f.Data))
	}
	dir := root
	for i, name := range names[:len(names)-1] {
		var err error
		if dir, err = dir.subdir(name, strings.Join(names[:i+1], "/")); err != nil {
			return err
		}
	}
	n, err := newFile(f, names[len(names)-1])
	if err != nil {
		return err
	}
	if len(f.Path) > maxPathLength {
		return fmt.Errorf("%w: %s is longer than %d bytes", ErrPath, f.Path, maxPathLength)
	}
	if dir.child(n.key) != nil {
		return fmt.Errorf("%w: %s", ErrExist, f.Path)
	}
	n.parent = dir
	dir.children = append(dir.children, n)
	return nil
}

func newFile(f File, name string) (*node, error) {
	key := strings.ToUpper(name)
	base, ext, _ := strings.Cut(key, ".")
	if !isDChars(base) || !isDChars(ext) || base+ext == "" || len(base)+len(ext) > maxFileNameLen {
		return nil, fmt.Errorf("%w: %s: file name %q is not NAME.EXT of at most %d of A-Z, 0-9, _ (in any case) with at most one period",
			ErrPath, f.Path, name, maxFileNameLen)
	}
	return &node{path: f.Path, key: key, base: base, ext: ext, data: f.Data}, nil
}

// subdir returns directory name in d, creating it if needed.
func (d *node) subdir(name, path string) (*node, error) {
	key := strings.ToUpper(name)
	if c := d.child(key); c != nil {
		if !c.dir {
			return nil, fmt.Errorf("%w: %s", ErrNotDir, path)
		}
		return c, nil
	}
	if key == "" || !isDChars(key) || len(key) > maxDirNameLen {
		return nil, fmt.Errorf("%w: %s: directory name %q is not 1 to %d of A-Z, 0-9, _ (in any case)", ErrPath, path, name, maxDirNameLen)
	}
	c := &node{path: path, key: key, base: key, dir: true, parent: d}
	d.children = append(d.children, c)
	return c, nil
}

func (d *node) child(key string) *node {
	for _, c := range d.children {
		if c.key == key {
			return c
		}
	}
	return nil
}

// sort orders every directory as ECMA-119 9.3 asks: by name, then by
// extension, each compared as if padded with spaces. d-characters all sort
// after the space, so that is plain string order of each part.
func (d *node) sort() {
	slices.SortFunc(d.children, func(a, b *node) int {
		if c := strings.Compare(a.base, b.base); c != 0 {
			return c
		}
		return strings.Compare(a.ext, b.ext)
	})
	for _, c := range d.children {
		if c.dir {
			c.sort()
		}
	}
}

// find returns the file at path.
func (root *node) find(path string) (*node, error) {
	n := root
	for _, name := range strings.Split(strings.TrimPrefix(path, "/"), "/") {
		if n = n.child(strings.ToUpper(name)); n == nil {
			return nil, fmt.Errorf("%w: %s is not one of the files", ErrBoot, path)
		}
	}
	if n.dir || len(n.data) == 0 {
		return nil, fmt.Errorf("%w: %s is a directory or empty", ErrBoot, path)
	}
	return n, nil
}

// isDChars reports whether s has only d-characters.
func isDChars(s string) bool {
	for _, c := range []byte(s) {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}
