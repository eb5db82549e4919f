// Package looptest gives the storage tests real block devices: loop devices over sparse
// files, attached with losetup and detached when the test ends. Tests that cannot have
// one (not root, no losetup, no free loop device) skip with a message naming what is
// missing.
//
// It is test support only; nothing in the image imports it.
package looptest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// SparseFile creates a sparse file of size bytes in the test's temporary directory.
func SparseFile(t testing.TB, name string, size int64) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	return path
}

// Attach attaches path to a free loop device and returns the device path; it is
// detached when the test ends.
func Attach(t testing.TB, path string, extraArgs ...string) string {
	t.Helper()
	RequireRoot(t)
	if _, err := exec.LookPath("losetup"); err != nil {
		t.Skip("losetup not on PATH: install Debian package mount to run this test")
	}
	args := append([]string{"--find", "--show"}, extraArgs...)
	out, err := exec.Command("losetup", append(args, path)...).CombinedOutput()
	if err != nil {
		t.Skipf("losetup could not attach a loop device (%v: %s); this test needs a free /dev/loopN", err, out)
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() { exec.Command("losetup", "--detach", dev).Run() })
	return dev
}

// Refresh makes the loop device see the new size of its backing file.
func Refresh(t testing.TB, dev string) {
	t.Helper()
	if out, err := exec.Command("losetup", "--set-capacity", dev).CombinedOutput(); err != nil {
		t.Fatalf("losetup --set-capacity %s: %v: %s", dev, err, out)
	}
}

// RequireRoot skips the test unless it runs as root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (loop devices, mount)")
	}
}

// Mount mounts dev (ext4) on a fresh directory and unmounts it when the test ends.
func Mount(t testing.TB, dev string) string {
	t.Helper()
	dir := t.TempDir()
	if err := unix.Mount(dev, dir, "ext4", 0, ""); err != nil {
		t.Fatalf("mount %s: %v", dev, err)
	}
	t.Cleanup(func() { unix.Unmount(dir, 0) })
	return dir
}

// CapSysResource is the capability the ext4 online resize ioctl checks
// (linux/fs/ext4/ioctl.c, ext4_resize_begin).
const CapSysResource = 24

// RequireCapability skips the test unless the process holds capability bit capBit in
// its effective set (/proc/self/status CapEff); containers often drop some.
func RequireCapability(t testing.TB, capBit uint, name string) {
	t.Helper()
	RequireRoot(t)
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("cannot read /proc/self/status to check %s: %v", name, err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if hex, ok := strings.CutPrefix(line, "CapEff:"); ok {
			var eff uint64
			if _, err := fmt.Sscanf(strings.TrimSpace(hex), "%x", &eff); err == nil && eff&(1<<capBit) != 0 {
				return
			}
		}
	}
	t.Skipf("needs %s in the effective capability set (this container drops it)", name)
}
