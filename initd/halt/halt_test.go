package halt

import (
	"os"
	"path/filepath"
	"testing"
)

func TestUserProcessesSkipsKernelThreadsAndSelf(t *testing.T) {
	proc := t.TempDir()
	for pid, cmdline := range map[string]string{"2": "", "10": "/sbin/init\x00watchdogd\x00", "self": "x"} {
		os.MkdirAll(filepath.Join(proc, pid), 0o755)
		os.WriteFile(filepath.Join(proc, pid, "cmdline"), []byte(cmdline), 0o644)
	}
	got := UserProcesses(proc)
	if len(got) != 1 || got[0] != 10 {
		t.Errorf("UserProcesses = %v, want [10]", got)
	}
}

func TestReadMountsKeepsOrder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mounts")
	os.WriteFile(path, []byte("/dev/vda2 /system/state ext4 rw 0 0\ntmpfs /run tmpfs rw 0 0\n/dev/vda3 /var ext4 rw 0 0\n"), 0o644)
	got := readMounts(path)
	if len(got) != 3 || got[0].target != "/system/state" || got[2].source != "/dev/vda3" {
		t.Errorf("readMounts = %+v", got)
	}
}
