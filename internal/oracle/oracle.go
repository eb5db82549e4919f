// Package oracle helps tests that check Kiln's writers against the real tools (unsquashfs,
// sgdisk, sbverify, ...). On a developer's machine a test needing a missing tool skips with
// a message naming the Debian package to install; with CI set in the environment it fails
// instead, because `.ci/run` installed every package first (ci/deps.sh) and a skip there
// would hide a missing install step.
package oracle

import (
	"os"
	"os/exec"
	"testing"
)

// Require skips the test when tool is not on PATH, naming pkg; under CI it fails.
func Require(t testing.TB, tool, pkg string) {
	t.Helper()
	if _, err := exec.LookPath(tool); err != nil {
		missing(t, os.Getenv("CI") != "", "%s not on PATH: install Debian package %s (make deps) to run this oracle test", tool, pkg)
	}
}

// RequireFile is Require for a file that is not a command (a header, a firmware image).
func RequireFile(t testing.TB, path, pkg string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		missing(t, os.Getenv("CI") != "", "%s: %v: install Debian package %s (make deps) to run this test", path, err, pkg)
	}
}

// missing fails the test in CI and skips it elsewhere.
func missing(t testing.TB, ci bool, format string, args ...any) {
	t.Helper()
	if ci {
		t.Fatalf("CI: "+format, args...)
		return
	}
	t.Skipf(format, args...)
}
