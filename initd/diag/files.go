package diag

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kiln-os/kiln/api/machine"
)

// MaxRead is the largest file ReadFile returns: it travels in one message.
const MaxRead = 1 << 20

// rule is a part of the tree no caller may list or read, whatever its role.
type rule struct {
	// match reports whether a clean absolute path (relative to Roots.Files) is covered.
	match func(p string) bool
	why   string
}

// under matches dir and everything below it.
func under(dir string) func(string) bool {
	return func(p string) bool { return p == dir || strings.HasPrefix(p, dir+"/") }
}

// procFile matches a file called name anywhere under /proc (/proc/PID/name,
// /proc/PID/task/TID/name, /proc/self/name).
func procFile(name string) func(string) bool {
	return func(p string) bool {
		return strings.HasPrefix(p, "/proc/") && path.Base(p) == name
	}
}

// forbidden are the rules, checked on the path as named and on the path of the file
// actually opened, so a symlink or ".." cannot lead around them.
var forbidden = []rule{
	{under("/system/state"), "/system/state is STATE: the machine config, the node's keys and certificates"},
	{under("/run/kiln"), "/run/kiln holds apid's and trustd's keys and machined's socket"},
	{procFile("mem"), "/proc/*/mem is a process's memory, secrets included"},
	{procFile("environ"), "/proc/*/environ can hold a service's secrets"},
	{under("/proc/kcore"), "/proc/kcore is the kernel's memory"},
	{under("/dev"), "/dev holds the block devices, the decrypted STATE among them"},
}

func checkForbidden(named, p string) error {
	for _, r := range forbidden {
		if r.match(p) {
			if named == p {
				return fmt.Errorf("%w: %s: %s; no role may list or read it", ErrForbidden, named, r.why)
			}
			return fmt.Errorf("%w: %s resolves to %s: %s; no role may list or read it", ErrForbidden, named, p, r.why)
		}
	}
	return nil
}

// open opens name (absolute) in r.Files with openat2(RESOLVE_IN_ROOT|
// RESOLVE_NO_MAGICLINKS): ".." and absolute symlinks stay inside the root, and /proc's
// magic links (/proc/PID/root, /proc/PID/fd/N) are not followed. It checks the rules on
// the path as named, then on the path the kernel says it opened.
func (r Roots) open(name string) (*os.File, error) {
	if !path.IsAbs(name) {
		return nil, fmt.Errorf("%w: %q is not an absolute path", ErrBadPath, name)
	}
	clean := path.Clean(name)
	if err := checkForbidden(name, clean); err != nil {
		return nil, err
	}
	rootFD, err := unix.Open(r.Files, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: r.Files, Err: err}
	}
	defer unix.Close(rootFD)
	rel := strings.TrimPrefix(clean, "/")
	if rel == "" {
		rel = "."
	}
	// O_NONBLOCK: opening a FIFO must not wait for a writer.
	fd, err := unix.Openat2(rootFD, rel, &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_CLOEXEC | unix.O_NOCTTY | unix.O_NONBLOCK,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	})
	if errors.Is(err, unix.ELOOP) {
		return nil, fmt.Errorf("%w: %s: a symlink loop, or a /proc magic link (/proc/PID/root, /proc/PID/fd/N), which is not followed", ErrForbidden, name)
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: name, Err: err}
	}
	f := os.NewFile(uintptr(fd), name)
	opened, err := r.openedPath(f)
	if err == nil {
		err = checkForbidden(name, opened)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// openedPath is where f really is, relative to r.Files, from /proc/self/fd: the file
// the descriptor holds, not the path that led there.
func (r Roots) openedPath(f *os.File) (string, error) {
	real, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(int(f.Fd())))
	if err != nil {
		return "", err
	}
	base, err := filepath.EvalSymlinks(r.Files)
	if err != nil {
		return "", err
	}
	rel, err := filepath.Rel(base, strings.TrimSuffix(real, " (deleted)"))
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return "", fmt.Errorf("%w: %s is outside %s", ErrForbidden, real, r.Files)
	}
	return path.Clean("/" + rel), nil
}

// ReadFile returns the regular file name, refusing one larger than MaxRead.
func (r Roots) ReadFile(name string) ([]byte, error) {
	f, err := r.open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return nil, fmt.Errorf("%w: %s is a directory: list it instead", ErrBadPath, name)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is a %s, not a regular file", ErrBadPath, name, fileType(st.Mode()))
	}
	// /proc and /sys files say size 0: only reading tells.
	data, err := io.ReadAll(io.LimitReader(f, MaxRead+1))
	if err != nil {
		return nil, &os.PathError{Op: "read", Path: name, Err: err}
	}
	if len(data) > MaxRead {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes (1 MiB), the most read returns", ErrTooLarge, name, MaxRead)
	}
	return data, nil
}

// ListFiles lists the directory name, its entries described without following them.
func (r Roots) ListFiles(name string) ([]*machine.FileInfo, error) {
	f, err := r.open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	entries, err := f.ReadDir(-1)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) && errors.Is(err, unix.ENOTDIR) {
			return nil, fmt.Errorf("%w: %s is not a directory: read it instead", ErrBadPath, name)
		}
		return nil, err
	}
	var out []*machine.FileInfo
	for _, e := range entries {
		out = append(out, describeAt(int(f.Fd()), e.Name()))
	}
	return out, nil
}

// describeAt stats name in the directory dirfd without following it: the listing
// describes what the directory holds, and never resolves a path a second time.
func describeAt(dirfd int, name string) *machine.FileInfo {
	info := &machine.FileInfo{Name: name}
	var st unix.Stat_t
	if err := unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		info.Mode = "?"
		return info
	}
	mode := fileMode(st.Mode)
	info.Mode, info.Size, info.Uid, info.Gid = mode.String(), uint64(st.Size), st.Uid, st.Gid
	info.Modified = timestamp(time.Unix(st.Mtim.Unix()))
	if mode&fs.ModeSymlink != 0 {
		buf := make([]byte, 4096)
		if n, err := unix.Readlinkat(dirfd, name, buf); err == nil {
			info.Link = string(buf[:n])
		}
	}
	return info
}

// fileMode converts a stat(2) mode to fs.FileMode.
func fileMode(m uint32) fs.FileMode {
	mode := fs.FileMode(m & 0o777)
	switch m & unix.S_IFMT {
	case unix.S_IFDIR:
		mode |= fs.ModeDir
	case unix.S_IFLNK:
		mode |= fs.ModeSymlink
	case unix.S_IFBLK:
		mode |= fs.ModeDevice
	case unix.S_IFCHR:
		mode |= fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFIFO:
		mode |= fs.ModeNamedPipe
	case unix.S_IFSOCK:
		mode |= fs.ModeSocket
	}
	if m&unix.S_ISUID != 0 {
		mode |= fs.ModeSetuid
	}
	if m&unix.S_ISGID != 0 {
		mode |= fs.ModeSetgid
	}
	if m&unix.S_ISVTX != 0 {
		mode |= fs.ModeSticky
	}
	return mode
}

func fileType(m fs.FileMode) string {
	switch {
	case m&fs.ModeDevice != 0:
		return "device"
	case m&fs.ModeNamedPipe != 0:
		return "named pipe"
	case m&fs.ModeSocket != 0:
		return "socket"
	}
	return "special file"
}
