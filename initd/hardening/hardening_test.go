package hardening

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-os/kiln/kernel/kspp"
)

func fullCmdline() string {
	var params []string
	for _, r := range kspp.Of(kspp.Cmdline, kspp.Required) {
		if r.Value == "" {
			params = append(params, r.Name)
		} else {
			params = append(params, r.Name+"="+r.Value)
		}
	}
	return "console=ttyS0 " + strings.Join(params, " ") + "\n"
}

func TestCheckCmdline(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "cmdline")
	os.WriteFile(path, []byte(fullCmdline()), 0o644)
	if err := CheckCmdline(path); err != nil {
		t.Fatalf("full cmdline: %v", err)
	}
	os.WriteFile(path, []byte(strings.Replace(fullCmdline(), "slab_nomerge", "", 1)), 0o644)
	err := CheckCmdline(path)
	if !errors.Is(err, ErrRequirement) || !strings.Contains(err.Error(), "slab_nomerge") {
		t.Fatalf("err = %v, want one naming slab_nomerge", err)
	}
}

// fakeProcSys makes a /proc/sys with every required sysctl; bad names a file that ignores
// writes (reads back "0").
func fakeProcSys(t *testing.T) string {
	root := t.TempDir()
	for _, r := range kspp.Of(kspp.Sysctl, kspp.Required) {
		p := filepath.Join(root, strings.ReplaceAll(r.Name, ".", "/"))
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte("0\n"), 0o644)
	}
	return root
}

func TestApplySysctls(t *testing.T) {
	root := fakeProcSys(t)
	if err := ApplySysctls(root, t.Logf); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(filepath.Join(root, "kernel/kptr_restrict"))
	if string(got) != "2\n" {
		t.Errorf("kptr_restrict = %q", got)
	}
}

func TestApplySysctlsNamesMissingOne(t *testing.T) {
	root := fakeProcSys(t)
	os.Remove(filepath.Join(root, "kernel/yama/ptrace_scope"))
	os.Remove(filepath.Join(root, "kernel/yama"))
	err := ApplySysctls(root, t.Logf)
	if !errors.Is(err, ErrRequirement) || !strings.Contains(err.Error(), "kernel.yama.ptrace_scope") {
		t.Fatalf("err = %v, want one naming kernel.yama.ptrace_scope", err)
	}
}
