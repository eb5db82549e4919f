package cpio

import (
	"fmt"
	"io/fs"
	"slices"
	"strings"
)

// Entry is one archive member, for Add and Sort.
type Entry struct {
	Path string
	// Mode holds the permission and special bits; its type bits select the
	// kind: none for a regular file, fs.ModeDir, fs.ModeSymlink, or
	// fs.ModeDevice|fs.ModeCharDevice for a character device.
	Mode         fs.FileMode
	Data         []byte // regular file content
	Target       string // symlink target
	Major, Minor uint32 // character device number
}

// Add writes e with the Add method for its kind.
func (w *Writer) Add(e Entry) error {
	switch e.Mode.Type() {
	case 0:
		return w.AddFile(e.Path, e.Mode, e.Data)
	case fs.ModeDir:
		return w.AddDir(e.Path, e.Mode)
	case fs.ModeSymlink:
		return w.AddSymlink(e.Path, e.Target)
	case charDevice:
		return w.AddCharDev(e.Path, e.Mode, e.Major, e.Minor)
	}
	if w.err != nil {
		return w.err
	}
	err := fmt.Errorf("%w: type %v is not a file, directory, symlink or character device", ErrMode, e.Mode.Type())
	return w.stick(&fs.PathError{Op: "add", Path: e.Path, Err: err})
}

// Sort orders entries depth-first by path, comparing element by element,
// so that every directory comes right before its contents: "a", "a/b",
// "a-b". Entries with the same path keep their order.
func Sort(entries []Entry) {
	slices.SortStableFunc(entries, func(a, b Entry) int { return comparePaths(a.Path, b.Path) })
}

// comparePaths compares slash-separated paths element by element, which is
// plain byte order with "/" below every other byte.
func comparePaths(a, b string) int {
	a, b = strings.TrimPrefix(a, "/"), strings.TrimPrefix(b, "/")
	for i := 0; i < len(a) && i < len(b); i++ {
		ca, cb := sepFirst(a[i]), sepFirst(b[i])
		if ca != cb {
			return ca - cb
		}
	}
	return len(a) - len(b)
}

func sepFirst(c byte) int {
	if c == '/' {
		return -1
	}
	return int(c)
}
