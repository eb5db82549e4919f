package configstate

import (
	"strings"
	"testing"

	"github.com/kiln-os/kiln/config"
	"github.com/kiln-os/kiln/internal/testpki"
)

// kptrSpellings are ways to name kernel.kptr_restrict that a path-building writer would
// resolve to the same /proc/sys file (or an escaping one): issue 12, hole 7.
var kptrSpellings = []string{
	"kernel/kptr_restrict", "/kernel/kptr_restrict", "kernel./kptr_restrict",
	"kernel..kptr_restrict", "kernel.kptr_restrict.", "kernel.kptr_restrict/",
	".kernel.kptr_restrict", "kernel/../kernel/kptr_restrict", "KERNEL.KPTR_RESTRICT",
	"Kernel.kptr_restrict", " kernel.kptr_restrict", "kernel.kptr_restrict ", "kernel.kptr_restrict\n",
	"kernel.\tkptr_restrict", "kernel//kptr_restrict", "./kernel/kptr_restrict", "net/../../kernel/kptr_restrict",
}

// TestKSPPSysctlGuardSpellings is the attack of hole 7: a config that weakens a KSPP
// sysctl under another spelling of its name must be refused before anything is written.
func TestKSPPSysctlGuardSpellings(t *testing.T) {
	for _, name := range kptrSpellings {
		cfg := testpki.ControlPlaneConfig(t)
		cfg.Machine.Sysctls = map[string]string{name: "0"}
		data, err := config.Encode(cfg)
		if err != nil {
			t.Fatal(err)
		}
		_, err = Decode(data)
		if err == nil {
			t.Errorf("Decode accepted kptr_restrict=0 spelled %q", name)
			continue
		}
		if !strings.Contains(err.Error(), "machine.sysctls") {
			t.Errorf("%q: error does not name the field: %v", name, err)
		}
	}
}
