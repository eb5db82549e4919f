// Package cpio writes cpio archives in the SVR4 "newc" format (magic
// "070701", no checksum), the format the Linux kernel unpacks as initramfs.
//
// The Writer is deterministic: the archive is a function of the entries, in
// the order they are added, and the Options. Every entry carries
// Options.ModTime, uid and gid 0, and an inode number counted from 1 in write
// order; the archive's own device numbers are 0. It never reads the clock, the
// host's users or its file system. Sort puts a set of entries into a
// canonical order that also satisfies the Writer's parent-first rule.
//
// Supported subset:
//
//   - directories (nlink 2), regular files, symbolic links and character
//     devices (nlink 1); no hard links, block devices, FIFOs or sockets
//   - files smaller than 4 GiB, as the header's 8 hex digits allow
//   - no "070702" checksum variant, no padding of the archive to 512 bytes
//
// Entries are written as they are added, so a directory must be added before
// its children. Paths are slash-separated and relative ("dev/console"); a
// leading "/" is dropped, so the archive never holds absolute names, and the
// root itself is never an entry. Modes are permission bits plus
// fs.ModeSetuid, fs.ModeSetgid and fs.ModeSticky; Unix-style special bits
// such as 01000 are rejected.
package cpio

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"path"
	"strings"
	"time"
)

// Errors returned by the Writer, wrapped with the path or option at fault.
var (
	ErrOptions  = errors.New("cpio: invalid options")
	ErrPath     = errors.New("cpio: invalid path")
	ErrMode     = errors.New("cpio: invalid mode")
	ErrExist    = errors.New("cpio: entry already written")
	ErrNoParent = errors.New("cpio: parent directory not written yet (add it first, or use Sort)")
	ErrNotDir   = errors.New("cpio: parent is not a directory")
	ErrTarget   = errors.New("cpio: invalid symlink target")
	ErrTooLarge = errors.New("cpio: file of 4 GiB or more")
	ErrClosed   = errors.New("cpio: write after Close")
)

// Unix file type bits of the header's mode field.
const (
	modeDir     = 0o040000
	modeFile    = 0o100000
	modeSymlink = 0o120000
	modeCharDev = 0o020000
)

// charDevice is the fs.FileMode type of a character device, as os.Stat reports it.
const charDevice = fs.ModeDevice | fs.ModeCharDevice

const maxTargetLen = 4095

// Options configure a Writer. ModTime is required.
type Options struct {
	ModTime time.Time // written to every entry
}

// Writer writes a newc archive entry by entry. The first error is sticky:
// every later call returns it.
type Writer struct {
	out   io.Writer
	mtime uint32
	ino   uint32          // last inode number used
	paths map[string]bool // written entries; true for directories
	err   error
}

// NewWriter returns a Writer that writes to out. Invalid options are
// reported by the first call on the Writer.
func NewWriter(out io.Writer, opts Options) *Writer {
	w := &Writer{out: out, paths: map[string]bool{}}
	secs := opts.ModTime.Unix()
	if opts.ModTime.IsZero() || secs < 0 || secs > math.MaxUint32 {
		w.err = fmt.Errorf("%w: ModTime %v must be set and between 1970 and 2106 (use SOURCE_DATE_EPOCH)", ErrOptions, opts.ModTime)
	}
	w.mtime = uint32(secs)
	return w
}

// AddDir writes the directory name.
func (w *Writer) AddDir(name string, mode fs.FileMode) error {
	return w.add(name, mode, fs.ModeDir, record{mode: modeDir, nlink: 2})
}

// AddFile writes the regular file name with content.
func (w *Writer) AddFile(name string, mode fs.FileMode, content []byte) error {
	if w.err == nil && uint64(len(content)) > math.MaxUint32 {
		return w.stick(&fs.PathError{Op: "add", Path: name, Err: ErrTooLarge})
	}
	return w.add(name, mode, 0, record{mode: modeFile, nlink: 1, data: content})
}

// AddSymlink writes the symbolic link name pointing at target, mode 0777.
func (w *Writer) AddSymlink(name, target string) error {
	if w.err == nil && !validTarget(target) {
		err := fmt.Errorf("%w: %q must be 1 to %d bytes without NUL", ErrTarget, target, maxTargetLen)
		return w.stick(&fs.PathError{Op: "add", Path: name, Err: err})
	}
	return w.add(name, 0o777, fs.ModeSymlink, record{mode: modeSymlink, nlink: 1, data: []byte(target)})
}

// AddCharDev writes the character device name with the device number
// major:minor, e.g. AddCharDev("dev/console", 0o600, 5, 1).
func (w *Writer) AddCharDev(name string, mode fs.FileMode, major, minor uint32) error {
	return w.add(name, mode, charDevice, record{mode: modeCharDev, nlink: 1, rdevMajor: major, rdevMinor: minor})
}

// Close writes the "TRAILER!!!" entry. It does not close the underlying writer.
func (w *Writer) Close() error {
	if w.err == ErrClosed {
		return nil
	}
	if w.err != nil {
		return w.err
	}
	if err := w.writeRecord(0, 0, record{name: trailerName, nlink: 1}); err != nil {
		return w.stick(fmt.Errorf("cpio: write trailer: %w", err))
	}
	w.err = ErrClosed
	return nil
}

// add checks name and mode, then writes rec with the next inode number.
// typ is the only fs.FileMode type mode may carry.
func (w *Writer) add(name string, mode, typ fs.FileMode, rec record) error {
	if w.err != nil {
		return w.err
	}
	perm, err := unixPerm(mode, typ)
	if err == nil {
		rec.name, err = w.checkPath(name)
	}
	if err != nil {
		return w.stick(&fs.PathError{Op: "add", Path: name, Err: err})
	}
	rec.mode |= perm
	w.ino++
	if err := w.writeRecord(w.ino, w.mtime, rec); err != nil {
		return w.stick(&fs.PathError{Op: "write", Path: name, Err: err})
	}
	w.paths[rec.name] = typ == fs.ModeDir
	return nil
}

// checkPath returns the archive name for name: relative, clean, new, and
// inside a directory already written.
func (w *Writer) checkPath(name string) (string, error) {
	p := strings.TrimPrefix(name, "/")
	if p == "" || p == "." || !fs.ValidPath(p) || strings.ContainsRune(p, 0) {
		return "", fmt.Errorf("%w: want a clean slash-separated path below the root, without NUL, \".\" or \"..\" elements", ErrPath)
	}
	if _, ok := w.paths[p]; ok {
		return "", ErrExist
	}
	parent := path.Dir(p)
	if parent == "." {
		return p, nil
	}
	isDir, ok := w.paths[parent]
	switch {
	case !ok:
		return "", ErrNoParent
	case !isDir:
		return "", ErrNotDir
	}
	return p, nil
}

// unixPerm converts the permission and special bits of mode to their Unix
// values. Type bits other than typ are rejected.
func unixPerm(mode, typ fs.FileMode) (uint32, error) {
	if t := mode.Type(); t != 0 && t != typ {
		return 0, fmt.Errorf("%w: type %v does not match the entry", ErrMode, t)
	}
	const special = fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky
	if extra := mode &^ (fs.ModeType | fs.ModePerm | special); extra != 0 {
		return 0, fmt.Errorf("%w: %#o has bits other than permissions, setuid, setgid and sticky "+
			"(use fs.ModeSetuid, fs.ModeSetgid, fs.ModeSticky, not 04000, 02000, 01000)", ErrMode, uint32(mode))
	}
	perm := uint32(mode.Perm())
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

func validTarget(target string) bool {
	return target != "" && len(target) <= maxTargetLen && !strings.ContainsRune(target, 0)
}

func (w *Writer) stick(err error) error {
	w.err = err
	return err
}
