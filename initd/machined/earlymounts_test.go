package machined

import (
	"testing"

	"golang.org/x/sys/unix"
)

// TestEarlyTmpfsBoundedAndNoexec is hole 11b: a tmpfs without size= may take half the RAM
// (Documentation/filesystems/tmpfs.rst), and world-writable ones (/tmp, /dev/shm) let any
// service user fill memory or stage a binary and run it. Every tmpfs of EarlyMounts has
// size= and nr_inodes=, and none is executable: nothing in the image runs from them.
func TestEarlyTmpfsBoundedAndNoexec(t *testing.T) {
	seen := 0
	for _, g := range earlyMounts {
		for _, m := range g.mounts {
			if m.FSType != "tmpfs" {
				continue
			}
			seen++
			if err := m.CheckBounds(); err != nil {
				t.Error(err)
			}
			if m.Flags&unix.MS_NOEXEC == 0 {
				t.Errorf("%s is executable", m)
			}
		}
	}
	if seen < 4 { // /run, /system, /tmp, /dev/shm
		t.Errorf("saw %d tmpfs mounts, want at least 4", seen)
	}
}
