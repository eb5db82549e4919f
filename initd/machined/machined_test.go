package machined

import (
	"os"
	"path/filepath"
	"testing"
)

// The boot is the phases of DESIGN.md "PID 1", in that order.
func TestPhaseOrder(t *testing.T) {
	m := &Machined{}
	want := []string{"EnforceKSPPRequirements", "EarlyMounts", "WaitForUSB", "Storage", "LoadConfig", "Network", "StartServices", "Ready"}
	got := m.phases()
	if len(got) != len(want) {
		t.Fatalf("%d phases, want %d", len(got), len(want))
	}
	for i, p := range got {
		if p.Name != want[i] {
			t.Errorf("phase %d = %s, want %s", i, p.Name, want[i])
		}
		if len(p.Tasks) == 0 {
			t.Errorf("phase %s has no tasks", p.Name)
		}
	}
}

// Every early mount is hardened: nosuid and nodev except devpts (which needs device nodes).
func TestEarlyMountsAreHardened(t *testing.T) {
	for _, g := range earlyMounts {
		for _, m := range g.mounts {
			if m.Flags&0x2 == 0 { // MS_NOSUID
				t.Errorf("%s lacks nosuid", m)
			}
			if m.FSType != "devpts" && m.Flags&0x4 == 0 { // MS_NODEV
				t.Errorf("%s lacks nodev", m)
			}
		}
	}
}

func TestUserProcessesSkipsKernelThreadsAndSelf(t *testing.T) {
	proc := t.TempDir()
	for pid, cmdline := range map[string]string{"2": "", "10": "/sbin/init\x00watchdogd\x00", "self": "x"} {
		os.MkdirAll(filepath.Join(proc, pid), 0o755)
		os.WriteFile(filepath.Join(proc, pid, "cmdline"), []byte(cmdline), 0o644)
	}
	got := userProcesses(proc)
	if len(got) != 1 || got[0] != 10 {
		t.Errorf("userProcesses = %v, want [10]", got)
	}
}
