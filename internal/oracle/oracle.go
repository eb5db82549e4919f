// Package oracle helps tests that check Kiln's writers against the real tools (unsquashfs,
// sgdisk, sbverify, ...): a test needing a missing tool skips with a message naming the
// Debian package to install (`make deps` installs them all, so CI skips nothing).
package oracle

import (
	"os/exec"
	"testing"
)

// Require skips the test when tool is not on PATH, naming pkg.
func Require(t testing.TB, tool, pkg string) {
	t.Helper()
	if _, err := exec.LookPath(tool); err != nil {
		t.Skipf("%s not on PATH: install Debian package %s (make deps) to run this oracle test", tool, pkg)
	}
}
