package machined

import (
	"fmt"
	"strings"
	"testing"

	"github.com/sirupsen/logrus/hooks/test"

	"github.com/kiln-os/kiln/initd/eventsink"
	"github.com/kiln-os/kiln/initd/resources"
)

// The boot is the phases of DESIGN.md "PID 1", in that order.
func TestPhaseOrder(t *testing.T) {
	m := &Machined{}
	want := []string{"EnforceKSPPRequirements", "EarlyMounts", "WaitForUSB", "Storage", "LockState", "LoadConfig", "Network", "Install", "StartServices", "Ready"}
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

// Every controller registers (one writer per output type), and inspect shows the graph
// the e2e test looks for.
func TestControllersRegister(t *testing.T) {
	log, _ := test.NewNullLogger()
	m := &Machined{Log: log, Sink: eventsink.New(nil, nil), Resources: resources.New(resources.Config{})}
	if err := m.registerControllers(); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, c := range m.controllers.Controllers() {
		got[c.Name] = fmt.Sprint(c.Inputs, c.Outputs)
	}
	for name, want := range map[string]string{
		"NetworkSpecController":    "[{config MachineConfig}]",
		"NetworkController":        "{AddressStatus}",
		"SysctlController":         "[{config MachineConfig}] [{SysctlStatus}]",
		"APICertificateController": "{network AddressStatus}",
		"ServiceSpecController":    "{secrets API}",
		"ServiceController":        "[{runtime ServiceSpec} {runtime ServiceSet}] [{Service}]",
	} {
		if !strings.Contains(got[name], want) {
			t.Errorf("%s declares %q, want it to contain %q", name, got[name], want)
		}
	}
}

// A boot that fails before LockState (STATE's unseal failing, say) still moves PCR 11 past
// the value STATE's key is sealed to, and only once however the boot ends (issue 12, hole
// 3): the key must not unseal while the machine waits to reboot.
func TestFailedBootLocksState(t *testing.T) {
	log, _ := test.NewNullLogger()
	m := &Machined{Log: log, Sink: eventsink.New(nil, nil)}
	var measured []string
	m.measure = func(word string) error { measured = append(measured, word); return nil }
	m.init()

	m.bootFailed(fmt.Errorf("STATE: unseal refused"))
	if err := m.lockState(); err != nil {
		t.Fatal(err)
	}
	if strings.Join(measured, " ") != "sysinit" {
		t.Errorf("measured %q after a failed boot, want sysinit once", measured)
	}
}

// The LockState phase measures sysinit before LoadConfig (the first phase that listens on
// the network) and fails the boot when it cannot.
func TestLockStatePhaseComesBeforeTheNetwork(t *testing.T) {
	m := &Machined{}
	names := []string{}
	for _, p := range m.phases() {
		names = append(names, p.Name)
	}
	order := strings.Join(names, " ")
	if !strings.Contains(order, "Storage LockState LoadConfig") {
		t.Errorf("phases %s: LockState must come right after Storage and before LoadConfig", order)
	}

	log, _ := test.NewNullLogger()
	m = &Machined{Log: log, Sink: eventsink.New(nil, nil)}
	m.measure = func(string) error { return fmt.Errorf("TPM gone") }
	m.init()
	if err := m.lockStateTask(t.Context(), log); err == nil || !strings.Contains(err.Error(), "sysinit") {
		t.Errorf("LockState with a failing TPM: %v, want an error naming sysinit", err)
	}
}
