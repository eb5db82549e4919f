package squashfs

import (
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
)

// maxNameLen is the longest directory entry name squashfs stores.
const maxNameLen = 256

// maxTargetLen keeps symlink targets within the kernel's limit of one page.
const maxTargetLen = 4095

type kind uint8

const (
	kindDir kind = iota + 1
	kindFile
	kindSymlink
	kindLink // a hard link: another entry of the file inode link
)

// node is one entry of the tree collected by the Add calls.
type node struct {
	name     string
	kind     kind
	perm     uint16           // Unix permission and special bits
	explicit bool             // a directory added by AddDir, not implied
	children map[string]*node // directories
	list     []*node          // children sorted by name, set by Close
	file     *fileData        // regular files
	target   string           // symlinks; the target's path for hard links
	link     *node            // hard links: the file they name, set by Close
	nlink    uint32           // regular files: entries of the inode, set by Close
	written  bool             // the inode is in the inode table

	ino uint32  // inode number, set by Close
	ref metaRef // position of the inode in the inode table, set by Close
}

func newDir(name string, perm uint16) *node {
	return &node{name: name, kind: kindDir, perm: perm, children: map[string]*node{}}
}

func (w *Writer) addDir(name string, mode fs.FileMode) error {
	perm, err := unixPerm(mode, fs.ModeDir)
	if err != nil {
		return &fs.PathError{Op: "add", Path: name, Err: err}
	}
	elems, err := splitPath(name)
	if err != nil {
		return &fs.PathError{Op: "add", Path: name, Err: err}
	}
	dir, err := w.root.mkdirAll(elems)
	if err == nil && dir.explicit {
		err = ErrExist
	}
	if err != nil {
		return &fs.PathError{Op: "add", Path: name, Err: err}
	}
	dir.perm, dir.explicit = perm, true
	return nil
}

func (w *Writer) addFile(name string, mode fs.FileMode, r io.Reader) error {
	perm, err := unixPerm(mode, 0)
	if err != nil {
		return &fs.PathError{Op: "add", Path: name, Err: err}
	}
	parent, base, err := w.newEntry(name)
	if err != nil {
		return &fs.PathError{Op: "add", Path: name, Err: err}
	}
	data, err := w.readFile(r)
	if err != nil {
		return &fs.PathError{Op: "read", Path: name, Err: err}
	}
	parent.children[base] = &node{name: base, kind: kindFile, perm: perm, file: data}
	return nil
}

func (w *Writer) addSymlink(name, target string) error {
	if target == "" || len(target) > maxTargetLen || strings.ContainsRune(target, 0) {
		return &fs.PathError{Op: "add", Path: name, Err: fmt.Errorf("%w: %q must be 1 to %d bytes without NUL", ErrTarget, target, maxTargetLen)}
	}
	parent, base, err := w.newEntry(name)
	if err != nil {
		return &fs.PathError{Op: "add", Path: name, Err: err}
	}
	parent.children[base] = &node{name: base, kind: kindSymlink, perm: 0o777, target: target}
	return nil
}

func (w *Writer) addLink(name, target string) error {
	if _, err := splitPath(target); err != nil {
		return &fs.PathError{Op: "link", Path: name, Err: fmt.Errorf("target %q: %w", target, err)}
	}
	parent, base, err := w.newEntry(name)
	if err != nil {
		return &fs.PathError{Op: "link", Path: name, Err: err}
	}
	parent.children[base] = &node{name: base, kind: kindLink, perm: 0o777, target: target}
	return nil
}

// resolveLinks points every hard link of the tree at its file and counts each file's
// entries.
func (w *Writer) resolveLinks(dir *node) error {
	for _, child := range dir.list {
		switch child.kind {
		case kindDir:
			if err := w.resolveLinks(child); err != nil {
				return err
			}
		case kindFile:
			child.nlink++
		case kindLink:
			file, err := w.lookup(child.target)
			if err != nil {
				return &fs.PathError{Op: "link", Path: child.target, Err: err}
			}
			child.link = file
			file.nlink++
		}
	}
	return nil
}

// lookup returns the regular file at path.
func (w *Writer) lookup(path string) (*node, error) {
	elems, _ := splitPath(path) // checked by addLink
	n := w.root
	for _, name := range elems {
		if n.kind != kindDir || n.children[name] == nil {
			return nil, ErrLink
		}
		n = n.children[name]
	}
	if n.kind != kindFile {
		return nil, ErrLink
	}
	return n, nil
}

// newEntry returns the directory that will hold name and name's last element,
// creating missing parents, or an error if name is taken.
func (w *Writer) newEntry(name string) (*node, string, error) {
	elems, err := splitPath(name)
	if err != nil {
		return nil, "", err
	}
	if len(elems) == 0 {
		return nil, "", ErrExist // the root
	}
	parent, err := w.root.mkdirAll(elems[:len(elems)-1])
	if err != nil {
		return nil, "", err
	}
	base := elems[len(elems)-1]
	if parent.children[base] != nil {
		return nil, "", ErrExist
	}
	return parent, base, nil
}

// mkdirAll walks elems from dir, creating missing directories with mode 0755.
func (dir *node) mkdirAll(elems []string) (*node, error) {
	for _, name := range elems {
		child := dir.children[name]
		if child == nil {
			child = newDir(name, 0o755)
			dir.children[name] = child
		}
		if child.kind != kindDir {
			return nil, ErrNotDir
		}
		dir = child
	}
	return dir, nil
}

// splitPath turns a slash-separated path into its elements; the root is none.
func splitPath(name string) ([]string, error) {
	p := strings.TrimPrefix(name, "/")
	if p == "" || p == "." {
		return nil, nil
	}
	if !fs.ValidPath(p) || strings.ContainsRune(p, 0) {
		return nil, fmt.Errorf("%w: want a clean slash-separated path without NUL, \".\" or \"..\" elements", ErrPath)
	}
	elems := strings.Split(p, "/")
	for _, e := range elems {
		if len(e) > maxNameLen {
			return nil, fmt.Errorf("%w: name %.20q... is longer than %d bytes", ErrPath, e, maxNameLen)
		}
	}
	return elems, nil
}

// unixPerm converts the permission and special bits of mode to their Unix
// values. Type bits other than typ are rejected.
func unixPerm(mode fs.FileMode, typ fs.FileMode) (uint16, error) {
	if t := mode & fs.ModeType; t != 0 && t != typ {
		return 0, fmt.Errorf("%w: type %v does not match the entry", ErrMode, t)
	}
	const special = fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky
	if extra := mode &^ (fs.ModeType | fs.ModePerm | special); extra != 0 {
		return 0, fmt.Errorf("%w: %#o has bits other than permissions, setuid, setgid and sticky "+
			"(use fs.ModeSetuid, fs.ModeSetgid, fs.ModeSticky, not 04000, 02000, 01000)", ErrMode, uint32(mode))
	}
	perm := uint16(mode.Perm())
	if mode&fs.ModeSetuid != 0 {
		perm |= 0o4000
	}
	if mode&fs.ModeSetgid != 0 {
		perm |= 0o2000
	}
	if mode&fs.ModeSticky != 0 {
		perm |= 0o1000
	}
	return perm, nil
}

// sortTree sets list, the children sorted by name, on every directory.
func sortTree(dir *node) {
	dir.list = dir.list[:0]
	for _, child := range dir.children {
		dir.list = append(dir.list, child)
	}
	slices.SortFunc(dir.list, func(a, b *node) int { return strings.Compare(a.name, b.name) })
	for _, child := range dir.list {
		if child.kind == kindDir {
			sortTree(child)
		}
	}
}
