package machined

import (
	"os"
	"strings"

	"github.com/kiln-os/kiln/initd/events"
	"github.com/kiln-os/kiln/initd/pcrphase"
	"github.com/kiln-os/kiln/initd/stage1"
)

// reportStage1PCR11 emits PCR 11 as stage 1 read it after each of its phases, so that a test
// (or an operator reading the event stream) can compare it with the build's prediction in
// manifest.json. A machine without a TPM reports "no-tpm" once.
func (m *Machined) reportStage1PCR11() {
	if len(pcrphase.Banks(pcrphase.Sysfs)) == 0 {
		m.Log.Warn("no TPM: the boot is not measured and nothing can be sealed")
		m.emit(events.Event{Type: events.TypeInfo, Name: "pcr11", State: "no-tpm"})
		return
	}
	for _, phase := range []string{"enter-initrd", "leave-initrd"} {
		value := os.Getenv(stage1.PCR11Env(phase))
		if value == "" {
			continue
		}
		fields := map[string]string{}
		for _, kv := range strings.Split(value, ",") {
			if bank, hex, ok := strings.Cut(kv, "="); ok {
				fields[bank] = hex
			}
		}
		m.emit(events.Event{Type: events.TypeInfo, Name: "pcr11", State: phase, Fields: fields})
	}
}

// measureReady extends PCR 11 with "ready" and reports the value: from here on, nothing
// sealed to an earlier phase can be unsealed in this boot.
func (m *Machined) measureReady() error {
	bankNames := pcrphase.Banks(pcrphase.Sysfs)
	if len(bankNames) == 0 {
		return nil
	}
	if err := pcrphase.Extend(pcrphase.Device, bankNames, "ready"); err != nil {
		return err
	}
	m.emit(events.Event{Type: events.TypeInfo, Name: "pcr11", State: "ready", Fields: pcrphase.Read(pcrphase.Sysfs)})
	return nil
}
