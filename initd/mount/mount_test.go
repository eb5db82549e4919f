package mount

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestString(t *testing.T) {
	m := Mount{Source: "proc", Target: "/proc", FSType: "proc", Flags: NoSuidDevExec}
	if got, want := m.String(), "proc on /proc type proc (nosuid,nodev,noexec)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	m = Mount{Source: "tmpfs", Target: "/run", FSType: "tmpfs", Flags: NoSuidDev | unix.MS_RDONLY, Data: "mode=0755"}
	if got, want := m.String(), "tmpfs on /run type tmpfs (ro,nosuid,nodev,mode=0755)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}
