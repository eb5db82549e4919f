// Package cgrouptest gives a test a cgroup2 directory of its own to use as a cgroup.Tree
// root: a fresh sub-cgroup of the host's cgroup2 hierarchy, killed and removed when the
// test ends, even when it failed. It is for tests only; nothing on the node imports it.
package cgrouptest

import (
	"bufio"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Root returns a new, empty cgroup2 directory. It skips the test when the process is not
// root or the host has no cgroup2 mount (a cgroup v1-only machine); the reason says which.
func Root(t testing.TB) string {
	t.Helper()
	if unix.Geteuid() != 0 {
		t.Skip("creating cgroups needs root")
	}
	mount, err := cgroup2Mount()
	if err != nil {
		t.Skipf("no cgroup2 hierarchy on this host: %v", err)
	}
	dir, err := os.MkdirTemp(mount, "kiln-test-")
	if err != nil {
		t.Fatalf("create a test cgroup under %s: %v", mount, err)
	}
	t.Cleanup(func() {
		if err := remove(dir); err != nil {
			t.Errorf("remove test cgroup: %v", err)
		}
	})
	return dir
}

// cgroup2Mount finds a cgroup2 mount in /proc/self/mountinfo (field 9 is the type).
func cgroup2Mount() (string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		fields, after := strings.Fields(pre), strings.Fields(post)
		if ok && len(fields) >= 5 && len(after) >= 1 && after[0] == "cgroup2" {
			return fields[4], nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", errors.New("no cgroup2 line in /proc/self/mountinfo")
}

// remove kills every process under dir, waits until none is left and removes the cgroups,
// deepest first.
func remove(dir string) error {
	if err := os.WriteFile(filepath.Join(dir, "cgroup.kill"), []byte("1"), 0); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for populated(dir) {
		if ctx.Err() != nil {
			return errors.New(dir + " still populated 5s after cgroup.kill")
		}
		time.Sleep(5 * time.Millisecond)
	}
	var dirs []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, path)
		}
		return err
	})
	if err != nil {
		return err
	}
	slices.Reverse(dirs)
	for _, d := range dirs {
		if err := unix.Rmdir(d); err != nil {
			return &os.PathError{Op: "rmdir", Path: d, Err: err}
		}
	}
	return nil
}

func populated(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.events"))
	return err == nil && strings.Contains(string(b), "populated 1")
}
