package hardening

import (
	"os"
	"path/filepath"
	"testing"
)

// TestWriteSysctlRefusesOtherSpellings is hole 7 at the writer: a name that is not the
// canonical dotted form is refused, so no spelling reaches a KSPP file, and nothing outside
// the /proc/sys root is ever opened.
func TestWriteSysctlRefusesOtherSpellings(t *testing.T) {
	root := t.TempDir()
	procSys := filepath.Join(root, "proc", "sys")
	kptr := filepath.Join(procSys, "kernel", "kptr_restrict")
	outside := filepath.Join(root, "escape")
	os.MkdirAll(filepath.Dir(kptr), 0o755)
	os.WriteFile(kptr, []byte("2\n"), 0o644)
	os.WriteFile(outside, []byte("untouched\n"), 0o644)
	for _, name := range []string{
		"kernel/kptr_restrict", "/kernel/kptr_restrict", "kernel./kptr_restrict", "kernel..kptr_restrict",
		"kernel.kptr_restrict.", "kernel.kptr_restrict/", "KERNEL.kptr_restrict", " kernel.kptr_restrict",
		"kernel//kptr_restrict", "../../escape", "kernel/../../../escape", "/../../escape",
	} {
		if err := WriteSysctl(procSys, name, "0"); err == nil {
			t.Errorf("WriteSysctl(%q) = nil, want a refusal", name)
		}
	}
	if got, _ := os.ReadFile(kptr); string(got) != "2\n" {
		t.Errorf("kptr_restrict became %q through another spelling", got)
	}
	if got, _ := os.ReadFile(outside); string(got) != "untouched\n" {
		t.Errorf("a file outside /proc/sys became %q", got)
	}
	if err := WriteSysctl(procSys, "kernel.kptr_restrict", "2"); err != nil {
		t.Errorf("canonical name: %v", err)
	}
}

// TestWriteSysctlCreatesNothing: /proc/sys has a fixed set of files; a name the kernel does
// not know is an error, never a new file (that would hide a typo in the config).
func TestWriteSysctlCreatesNothing(t *testing.T) {
	procSys := t.TempDir()
	os.Mkdir(filepath.Join(procSys, "vm"), 0o755)
	if err := WriteSysctl(procSys, "vm.no_such_knob", "1"); err == nil {
		t.Error("WriteSysctl of an unknown name = nil")
	}
	if _, err := os.Stat(filepath.Join(procSys, "vm", "no_such_knob")); err == nil {
		t.Error("WriteSysctl created a file")
	}
}
