package lab

import (
	"os"
	"testing"

	"github.com/kiln-os/kiln/internal/oracle"
)

// ForTest creates a lab for tb and deletes it at tb's cleanup, which runs also when the
// test fails or panics. It skips tb when not root, or fails it under CI (RequireRoot), and
// when ip(8) is missing (oracle.Require). A lab it cannot create or delete fails tb.
func ForTest(tb testing.TB) *Lab {
	tb.Helper()
	RequireRoot(tb)
	oracle.Require(tb, "ip", "iproute2")
	l, err := New(tb.Context(), tb.Logf)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := l.Close(); err != nil {
			tb.Error(err)
		}
	})
	return l
}

// RequireRoot skips tb unless it runs as root, which namespaces, bridges and taps need.
// Under CI (CI set) it fails instead: CI runs as root, and a skip would hide the lab
// tests.
func RequireRoot(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() == 0 {
		return
	}
	const why = "the lab network needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN for network namespaces, bridges and taps)"
	if os.Getenv("CI") != "" {
		tb.Fatal("CI: " + why + ", and CI runs as root")
	}
	tb.Skip(why + ": run the test as root")
}
