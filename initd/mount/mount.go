// Package mount describes early-boot mounts as data: a table of Mount entries, each
// printable for the console, applied in order. Stage 1 and machined's EarlyMounts phase
// both use it.
//
// It is node-side and Linux-only in effect; it never decides what to mount, only how.
package mount

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// Hardened flag sets: nothing that does not need exec, suid or device nodes gets them.
const (
	NoSuidDevExec = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	NoSuidDev     = unix.MS_NOSUID | unix.MS_NODEV
)

// Mount is one entry of a mount table.
type Mount struct {
	Source, Target, FSType string
	Flags                  uintptr
	Data                   string
	// Optional entries are skipped when the kernel lacks the filesystem or the target's
	// parent does not exist (efivarfs on a BIOS machine).
	Optional bool
}

// String renders the entry like /proc/mounts: "proc on /proc type proc (nosuid,nodev,noexec)".
func (m Mount) String() string {
	opts := flagNames(m.Flags)
	if m.Data != "" {
		opts = append(opts, m.Data)
	}
	if len(opts) == 0 {
		opts = []string{"defaults"}
	}
	return fmt.Sprintf("%s on %s type %s (%s)", m.Source, m.Target, m.FSType, strings.Join(opts, ","))
}

var flagTable = []struct {
	flag uintptr
	name string
}{
	{unix.MS_RDONLY, "ro"}, {unix.MS_NOSUID, "nosuid"}, {unix.MS_NODEV, "nodev"},
	{unix.MS_NOEXEC, "noexec"}, {unix.MS_RELATIME, "relatime"}, {unix.MS_MOVE, "move"},
	{unix.MS_BIND, "bind"}, {unix.MS_REC, "rec"},
}

func flagNames(flags uintptr) []string {
	var names []string
	for _, f := range flagTable {
		if flags&f.flag != 0 {
			names = append(names, f.name)
		}
	}
	return names
}

// ErrSkipped is returned (wrapped) by Do for an optional mount that could not be made.
var ErrSkipped = errors.New("mount: optional mount skipped")

// ErrUnboundedTmpfs is returned (wrapped) by Do for a tmpfs entry without a size= and an
// nr_inodes= bound.
var ErrUnboundedTmpfs = errors.New("mount: tmpfs needs size= and nr_inodes= bounds")

// Do creates the target directory and mounts. Errors are *os.PathError wrapped with the
// whole entry, so the console says exactly which mount failed and how.
func (m Mount) Do() error {
	if err := m.CheckBounds(); err != nil {
		return err
	}
	if err := os.MkdirAll(m.Target, 0o755); err != nil {
		if m.Optional {
			return fmt.Errorf("%w: %s: %v", ErrSkipped, m, err)
		}
		return fmt.Errorf("mount %s: %w", m, err)
	}
	if err := unix.Mount(m.Source, m.Target, m.FSType, m.Flags, m.Data); err != nil {
		if m.Optional && (errors.Is(err, unix.ENODEV) || errors.Is(err, unix.ENOENT)) {
			return fmt.Errorf("%w: %s: %v", ErrSkipped, m, err)
		}
		return fmt.Errorf("mount %s: %w", m, &os.PathError{Op: "mount", Path: m.Target, Err: err})
	}
	return nil
}

// CheckBounds refuses a tmpfs without explicit limits; Do calls it first, and tests of
// mount tables call it so that a table fails before a boot does. Unbounded, a tmpfs may
// take half the RAM, and without swap the kernel cannot reclaim its pages: "if you
// oversize your tmpfs instances the machine will deadlock since the OOM handler will not
// be able to free that memory" (Documentation/filesystems/tmpfs.rst). nr_inodes bounds the
// inode and dentry memory that size= does not count (empty files). 0 means unlimited for
// both, so it is refused too.
func (m Mount) CheckBounds() error {
	if m.FSType != "tmpfs" {
		return nil
	}
	for _, opt := range []string{"size", "nr_inodes"} {
		if v, ok := m.option(opt); !ok || v == "" || strings.TrimLeft(v, "0") == "" {
			return fmt.Errorf("%w: %s: set %s= to a non-zero limit", ErrUnboundedTmpfs, m, opt)
		}
	}
	return nil
}

// option is the value of name=value in Data.
func (m Mount) option(name string) (string, bool) {
	for _, opt := range strings.Split(m.Data, ",") {
		if k, v, ok := strings.Cut(opt, "="); ok && k == name {
			return v, true
		}
	}
	return "", false
}

// All mounts a table in order and logs each entry; it stops at the first required failure.
func All(table []Mount, logf func(format string, args ...any)) error {
	for _, m := range table {
		err := m.Do()
		switch {
		case errors.Is(err, ErrSkipped):
			logf("skipped %v", err)
		case err != nil:
			return err
		default:
			logf("mounted %s", m)
		}
	}
	return nil
}

// Move moves the mount at from to to (mount --move).
func Move(from, to string) error {
	if err := os.MkdirAll(to, 0o755); err != nil {
		return err
	}
	if err := unix.Mount(from, to, "", unix.MS_MOVE, ""); err != nil {
		return fmt.Errorf("move mount %s to %s: %w", from, to, &os.PathError{Op: "mount", Path: to, Err: err})
	}
	return nil
}
