package fat

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"unicode/utf8"
)

// node is a file or directory of the tree being written.
type node struct {
	path     string // for error messages
	name     string // the long name
	short    shortName
	lfn      bool // the name needs long-name entries
	dir      bool
	data     []byte
	children []*node // sorted by name once the tree is built

	cluster  uint32 // first cluster; 0 for empty files and the FAT12/16 root
	clusters uint32
}

// buildTree makes the directory tree of files, with directories implied by
// the paths, children sorted by name and short names assigned.
func buildTree(files []File) (*node, error) {
	root := &node{dir: true, path: "/"}
	for _, f := range files {
		if err := root.add(f); err != nil {
			return nil, err
		}
	}
	if err := root.finish(); err != nil {
		return nil, err
	}
	return root, nil
}

// add puts f under root, creating the missing parent directories.
func (root *node) add(f File) error {
	names, err := splitPath(f.Path)
	if err != nil {
		return err
	}
	if uint64(len(f.Data)) > math.MaxUint32 {
		return fmt.Errorf("%w: %s is %d bytes", ErrTooLarge, f.Path, len(f.Data))
	}
	dir := root
	for i, name := range names[:len(names)-1] {
		if dir, err = dir.subdir(name, strings.Join(names[:i+1], "/")); err != nil {
			return err
		}
	}
	name := names[len(names)-1]
	if dir.child(name) != nil {
		return fmt.Errorf("%w: %s", ErrExist, f.Path)
	}
	dir.children = append(dir.children, &node{path: f.Path, name: name, data: f.Data})
	return nil
}

// subdir returns the directory called name in d, creating it if needed.
func (d *node) subdir(name, path string) (*node, error) {
	if c := d.child(name); c != nil {
		if !c.dir {
			return nil, fmt.Errorf("%w: %s", ErrNotDir, path)
		}
		return c, nil
	}
	c := &node{path: path, name: name, dir: true}
	d.children = append(d.children, c)
	return c, nil
}

// child finds name in d the way FAT looks names up: ignoring case.
func (d *node) child(name string) *node {
	for _, c := range d.children {
		if strings.EqualFold(c.name, name) {
			return c
		}
	}
	return nil
}

// finish sorts every directory and gives its children short names.
func (d *node) finish() error {
	slices.SortFunc(d.children, func(a, b *node) int { return strings.Compare(a.name, b.name) })
	if err := assignShortNames(d.children); err != nil {
		return fmt.Errorf("%s: %w", d.path, err)
	}
	for _, c := range d.children {
		if c.dir {
			if err := c.finish(); err != nil {
				return err
			}
		}
	}
	return nil
}

// dirEntries is how many 32-byte entries directory d holds.
func (d *node) dirEntries(isRoot, label bool) int {
	n := 0
	switch {
	case !isRoot:
		n = 2 // "." and ".."
	case label:
		n = 1
	}
	for _, c := range d.children {
		n++
		if c.lfn {
			n += lfnSlots(c.name)
		}
	}
	return n
}

// splitPath checks p and returns its names.
func splitPath(p string) ([]string, error) {
	names := strings.Split(strings.TrimPrefix(p, "/"), "/")
	for _, name := range names {
		if err := checkName(name); err != nil {
			return nil, fmt.Errorf("%w: %q: %w", ErrPath, p, err)
		}
	}
	return names, nil
}

// checkName enforces the long-name rules that every FAT driver shares.
func checkName(name string) error {
	switch {
	case name == "" || name == "." || name == "..":
		return fmt.Errorf("empty, . or .. name")
	case strings.HasSuffix(name, ".") || strings.HasSuffix(name, " "):
		return fmt.Errorf("name %q ends in a period or space", name)
	case !utf8.ValidString(name):
		return fmt.Errorf("name %q is not UTF-8", name)
	case lfnUnits(name) > maxLongName:
		return fmt.Errorf("name longer than %d UTF-16 units", maxLongName)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f || strings.ContainsRune(`"*/:<>?\|`, r) {
			return fmt.Errorf("name %q has the invalid character %q", name, r)
		}
	}
	return nil
}
