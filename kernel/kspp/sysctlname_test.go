package kspp

import (
	"errors"
	"strings"
	"testing"
)

func TestTableSysctlNamesAreCanonical(t *testing.T) {
	for _, r := range Rules() {
		if r.Kind == Sysctl {
			if err := CheckSysctlName(r.Name); err != nil {
				t.Error(err)
			}
		}
	}
}

func TestCheckSysctlName(t *testing.T) {
	for _, name := range []string{"kernel.kptr_restrict", "net.ipv4.ip_forward", "net.ipv6.conf.eth-0.accept_ra", "vm.swappiness", "a"} {
		if err := CheckSysctlName(name); err != nil {
			t.Errorf("%q: %v", name, err)
		}
	}
	suggest := map[string]string{
		"kernel/kptr_restrict": "kernel.kptr_restrict", "/kernel/kptr_restrict": "kernel.kptr_restrict",
		"kernel./kptr_restrict": "kernel.kptr_restrict", "kernel..kptr_restrict": "kernel.kptr_restrict",
		"kernel.kptr_restrict.": "kernel.kptr_restrict", "kernel.kptr_restrict/": "kernel.kptr_restrict",
		".kernel.kptr_restrict": "kernel.kptr_restrict", "./kernel/./kptr_restrict": "kernel.kptr_restrict",
		"KERNEL.KPTR_RESTRICT": "kernel.kptr_restrict", " kernel.kptr_restrict\n": "kernel.kptr_restrict",
	}
	for name, want := range suggest {
		err := CheckSysctlName(name)
		if !errors.Is(err, ErrSysctlName) || !strings.Contains(err.Error(), `write "`+want+`"`) {
			t.Errorf("%q: %v, want the canonical form %q", name, err, want)
		}
	}
	for _, name := range []string{"", ".", "/", "..", "../x", "kernel/../kptr_restrict", "net/../../kernel/kptr_restrict", "kernel.\tkptr_restrict", "kernel.kptr*", "vm.sw\x00ap"} {
		err := CheckSysctlName(name)
		if !errors.Is(err, ErrSysctlName) || !strings.Contains(err.Error(), "has none") {
			t.Errorf("%q: %v, want a refusal without a canonical form", name, err)
		}
	}
}

func FuzzCheckSysctlName(f *testing.F) {
	for _, s := range []string{"kernel.kptr_restrict", "kernel/../x", "a..b", "A/B."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if CheckSysctlName(name) != nil {
			return
		}
		p := SysctlPath(name)
		if strings.HasPrefix(p, "/") || strings.Contains(p, "..") || strings.Contains(p, "//") || strings.HasSuffix(p, "/") {
			t.Fatalf("accepted %q maps to %q", name, p)
		}
	})
}
