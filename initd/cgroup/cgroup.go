// Package cgroup gives each of machined's services a cgroup of its own on the cgroup2
// hierarchy, so that a service is started inside it and stopped as a whole: a process
// that called setsid, or double-forked to leave its parent, is still in its service's
// cgroup and dies with it (cgroup.kill). This is the room for cgroup layout and
// lifecycle; it must not know what a service does and sets no resource limits yet.
//
// # Layout
//
// Under the root (DefaultRoot on a node, a sub-cgroup in tests):
//
//	<root>/kiln/               no processes; controllers enabled for its children
//	<root>/kiln/init/          PID 1 (machined) and the helpers it runs itself
//	<root>/kiln/services/      no processes; controllers enabled for its children
//	<root>/kiln/services/NAME  one service: its process and everything it forks
//
// PID 1 leaves the root cgroup for the leaf kiln/init because of the "no internal
// process" rule (Documentation/admin-guide/cgroup-v2.rst, "No Internal Process
// Constraint"): a non-root cgroup can distribute domain resources (memory, ...) to its
// children only when it has no processes of its own, and a process cannot join a cgroup
// that has domain controllers enabled in cgroup.subtree_control. So processes live only
// in leaves, and kiln and kiln/services stay empty. The root cgroup is exempt from the
// rule, but keeping PID 1 in a leaf also makes kiln/init's memory.current PID 1's own
// figure, and leaves the root for the kernel threads and, later, the kubelet's pods.
// Service names are single path elements (ValidName), so no service can be called
// init or climb out of kiln/services.
//
// # Starting and stopping
//
// Tree.Service creates a fresh cgroup for one run of a service and returns a Group whose
// FD goes into syscall.SysProcAttr.CgroupFD with UseCgroupFD: the kernel clones the
// child directly into the cgroup (CLONE_INTO_CGROUP, Linux 5.7), so there is no moment
// at which it runs outside. Group.Kill writes "1" to cgroup.kill (Linux 5.14), which
// SIGKILLs every process in the cgroup and its descendants, and waits until
// cgroup.events says "populated 0": every process has exited (an exited process leaves
// its cgroup before its parent reaps it). Group.Remove then removes the cgroup.
//
// A cgroup is used for one run only, never reused after a kill: on the 6.18 kernel the
// tests ran on, a child cloned with CLONE_INTO_CGROUP into a cgroup that was once killed
// is SIGKILLed at birth (the fork/cgroup.kill race fix, "kill_seq", seems to compare the
// target's kill count with the parent's cgroup's; whether the image's 6.1 has that fix
// depends on its stable release, so the code does not rely on either behaviour).
// TestKilledCgroupIsNotReused shows it. If a cgroup of the service's name is still there
// (a run whose Remove failed), Service kills and removes it before creating a new one.
//
// Every path below the root is opened relative to a directory descriptor with
// O_NOFOLLOW (and O_DIRECTORY for directories): the cgroup directories are root's, but
// nothing here follows a symlink should one ever appear.
package cgroup

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultRoot is where machined mounts cgroup2 (EarlyMounts).
const DefaultRoot = "/sys/fs/cgroup"

// The layout below the root (see the package doc).
const (
	KilnDir     = "kiln"
	InitDir     = "init"
	ServicesDir = "services"
)

// Controllers are the controllers the tree enables for the services, where the kernel
// has them: memory and pids are what bounding a service needs (its RAM, a fork bomb).
// Others join this list when a limit uses them.
var Controllers = []string{"memory", "pids"}

// pollInterval is how often Kill reads cgroup.events while it waits for the cgroup to
// empty; a kill takes milliseconds, so polling is simpler than inotify and as good.
const pollInterval = 5 * time.Millisecond

// Errors.
var (
	// ErrNotSetUp is returned by Tree methods called before Setup succeeded.
	ErrNotSetUp = errors.New("cgroup: tree not set up")
	// ErrInvalidName is wrapped when a service name cannot be a cgroup of its own.
	ErrInvalidName = errors.New("cgroup: invalid service name")
)

// validName: a lower-case single path element, at most 64 bytes; no dots, so it cannot
// be ".", "..", or the name of a cgroup interface file.
var validName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// ValidName returns nil when name can be a service's cgroup, else an error saying why.
func ValidName(name string) error {
	if !validName.MatchString(name) {
		return fmt.Errorf("%w %q: want 1 to 64 of a-z 0-9 _ - starting with a letter or digit", ErrInvalidName, name)
	}
	return nil
}

// Tree is the kiln part of one cgroup2 hierarchy. It is safe for concurrent use.
type Tree struct {
	root string

	mu       sync.Mutex
	services *os.File // <root>/kiln/services, once Setup succeeded
}

// New returns the tree under root; nothing is touched until Setup.
func New(root string) *Tree { return &Tree{root: root} }

// Root is the cgroup2 mount (or sub-cgroup) the tree lives under.
func (t *Tree) Root() string { return t.root }

// Setup checks that the root is cgroup2, creates kiln, kiln/init and kiln/services (or
// reuses them), moves initPID (unless 0) into kiln/init, and then enables Controllers
// in the root, kiln and kiln/services where the kernel offers them. The order matters:
// kiln cannot enable a controller while it still holds a process. Any error leaves the
// tree unusable: for PID 1 it is a boot failure.
func (t *Tree) Setup(initPID int) error {
	root, err := openRoot(t.root)
	if err != nil {
		return err
	}
	defer root.Close()
	kiln, err := mkdirOpen(root, t.root, KilnDir)
	if err != nil {
		return err
	}
	defer kiln.Close()
	kilnPath := filepath.Join(t.root, KilnDir)
	initDir, err := mkdirOpen(kiln, kilnPath, InitDir)
	if err != nil {
		return err
	}
	defer initDir.Close()
	services, err := mkdirOpen(kiln, kilnPath, ServicesDir)
	if err != nil {
		return err
	}
	if initPID != 0 {
		if err := writeAt(initDir, filepath.Join(kilnPath, InitDir), "cgroup.procs", strconv.Itoa(initPID)); err != nil {
			services.Close()
			return err
		}
	}
	if err := enableControllers(root, t.root, kiln, kilnPath, services); err != nil {
		services.Close()
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.services != nil { // set up before: the Groups handed out keep using the first
		return services.Close()
	}
	t.services = services
	return nil
}

// enableControllers enables in each level the Controllers its parent passes down.
func enableControllers(root *os.File, rootPath string, kiln *os.File, kilnPath string, services *os.File) error {
	levels := []struct {
		dir  *os.File
		path string
	}{{root, rootPath}, {kiln, kilnPath}, {services, filepath.Join(kilnPath, ServicesDir)}}
	for _, level := range levels {
		offered, err := readAt(level.dir, level.path, "cgroup.controllers")
		if err != nil {
			return err
		}
		var enable []string
		for _, c := range Controllers {
			if slices.Contains(strings.Fields(offered), c) {
				enable = append(enable, "+"+c)
			}
		}
		if len(enable) == 0 {
			return nil // what a level does not get, its children cannot enable either
		}
		if err := writeAt(level.dir, level.path, "cgroup.subtree_control", strings.Join(enable, " ")); err != nil {
			return err
		}
	}
	return nil
}

// Service creates a fresh cgroup for one run of the named service. What is left of an
// earlier cgroup of that name is killed and removed first, bounded by ctx.
func (t *Tree) Service(ctx context.Context, name string) (*Group, error) {
	if err := ValidName(name); err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.services == nil {
		return nil, fmt.Errorf("%w under %s: cgroup for service %s", ErrNotSetUp, t.root, name)
	}
	parent := filepath.Join(t.root, KilnDir, ServicesDir)
	group := &Group{path: filepath.Join(parent, name), name: name, parent: t.services}
	err := unix.Mkdirat(int(t.services.Fd()), name, 0o755)
	if errors.Is(err, unix.EEXIST) {
		err = group.replaceLeftover(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("cgroup: %w", &os.PathError{Op: "mkdirat", Path: group.path, Err: err})
	}
	if group.dir, err = openDir(t.services, parent, name); err != nil {
		return nil, err
	}
	return group, nil
}

// replaceLeftover kills and removes the cgroup of an earlier run, and creates it anew.
func (g *Group) replaceLeftover(ctx context.Context) error {
	dir, err := openDir(g.parent, filepath.Dir(g.path), g.name)
	if err != nil {
		return err
	}
	g.dir = dir
	if err := g.Kill(ctx); err != nil {
		dir.Close()
		return err
	}
	if err := g.Remove(ctx); err != nil {
		return err
	}
	return unix.Mkdirat(int(g.parent.Fd()), g.name, 0o755)
}

// Close releases the tree's descriptor; the cgroups stay. Groups from Service must not be
// used after it.
func (t *Tree) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.services == nil {
		return nil
	}
	err := t.services.Close()
	t.services = nil
	return err
}

// Group is the cgroup of one run of a service, held open by a descriptor.
type Group struct {
	path   string
	name   string
	parent *os.File // kiln/services, owned by the Tree
	dir    *os.File
}

// Path is the cgroup's directory, for messages and the API.
func (g *Group) Path() string { return g.path }

// FD is the cgroup's directory descriptor, for SysProcAttr.CgroupFD.
func (g *Group) FD() int { return int(g.dir.Fd()) }

// Remove closes the descriptor and removes the cgroup, which must be empty (Kill first).
// It retries while the kernel still reports the cgroup busy, until ctx ends.
func (g *Group) Remove(ctx context.Context) error {
	g.dir.Close()
	for {
		err := unix.Unlinkat(int(g.parent.Fd()), g.name, unix.AT_REMOVEDIR)
		if !errors.Is(err, unix.EBUSY) {
			if err != nil && !errors.Is(err, unix.ENOENT) {
				return fmt.Errorf("cgroup: %w", &os.PathError{Op: "rmdir", Path: g.path, Err: err})
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cgroup: %s still busy: %w", g.path, ctx.Err())
		case <-time.After(pollInterval):
		}
	}
}

// Populated reports whether any live process is in the cgroup or below it.
func (g *Group) Populated() (bool, error) {
	events, err := readAt(g.dir, g.path, "cgroup.events")
	if err != nil {
		return false, err
	}
	sc := bufio.NewScanner(strings.NewReader(events))
	for sc.Scan() {
		if value, ok := strings.CutPrefix(sc.Text(), "populated "); ok {
			return value != "0", nil
		}
	}
	return false, fmt.Errorf("cgroup: %s: no populated line in cgroup.events %q", g.path, events)
}

// Kill SIGKILLs every process in the cgroup (cgroup.kill) and waits until none is left,
// or ctx ends; the error then says the cgroup is still populated.
func (g *Group) Kill(ctx context.Context) error {
	if err := writeAt(g.dir, g.path, "cgroup.kill", "1"); err != nil {
		return err
	}
	for {
		populated, err := g.Populated()
		if err != nil || !populated {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cgroup: %s still has processes after cgroup.kill: %w", g.path, ctx.Err())
		case <-time.After(pollInterval):
		}
	}
}

// openRoot opens the root directory and checks that it is on cgroup2.
func openRoot(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("cgroup: open root: %w", err)
	}
	var fs unix.Statfs_t
	if err := unix.Fstatfs(int(f.Fd()), &fs); err != nil {
		f.Close()
		return nil, fmt.Errorf("cgroup: root: %w", &os.PathError{Op: "fstatfs", Path: path, Err: err})
	}
	if fs.Type != unix.CGROUP2_SUPER_MAGIC {
		f.Close()
		return nil, fmt.Errorf("cgroup: root %s is not a cgroup2 mount (filesystem magic %#x, want %#x): mount cgroup2 there first",
			path, fs.Type, unix.CGROUP2_SUPER_MAGIC)
	}
	return f, nil
}

// mkdirOpen creates name in dir unless it exists, and opens it without following a
// symlink.
func mkdirOpen(dir *os.File, dirPath, name string) (*os.File, error) {
	path := filepath.Join(dirPath, name)
	if err := unix.Mkdirat(int(dir.Fd()), name, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
		return nil, fmt.Errorf("cgroup: %w", &os.PathError{Op: "mkdirat", Path: path, Err: err})
	}
	return openDir(dir, dirPath, name)
}

// openDir opens the directory name in dir without following a symlink.
func openDir(dir *os.File, dirPath, name string) (*os.File, error) {
	path := filepath.Join(dirPath, name)
	fd, err := unix.Openat(int(dir.Fd()), name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("cgroup: %w", &os.PathError{Op: "openat", Path: path, Err: err})
	}
	return os.NewFile(uintptr(fd), path), nil
}

// readAt reads an interface file of the cgroup open as dir.
func readAt(dir *os.File, dirPath, name string) (string, error) {
	path := filepath.Join(dirPath, name)
	fd, err := unix.Openat(int(dir.Fd()), name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", fmt.Errorf("cgroup: %w", &os.PathError{Op: "openat", Path: path, Err: err})
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(f); err != nil {
		return "", fmt.Errorf("cgroup: %w", err)
	}
	return buf.String(), nil
}

// writeAt writes value to an interface file of the cgroup open as dir, in one write: the
// kernel acts on each write(2).
func writeAt(dir *os.File, dirPath, name, value string) error {
	path := filepath.Join(dirPath, name)
	fd, err := unix.Openat(int(dir.Fd()), name, unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("cgroup: %w", &os.PathError{Op: "openat", Path: path, Err: err})
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	if _, err := f.WriteString(value); err != nil {
		return fmt.Errorf("cgroup: write %q: %w", value, err)
	}
	return nil
}
