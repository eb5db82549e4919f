package machined

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/kiln-os/kiln/initd/events"
)

// tpmSysfs is where Linux (5.12+) exports the PCR banks of the first TPM.
const tpmSysfs = "/sys/class/tpm/tpm0"

// reportPCR11 emits PCR 11 of every bank the kernel exports, so that a test (or an operator
// reading the event stream) can compare it with the build's prediction in manifest.json.
// A machine without a TPM reports "no-tpm".
func (m *Machined) reportPCR11() {
	banks, _ := filepath.Glob(filepath.Join(tpmSysfs, "pcr-*"))
	if len(banks) == 0 {
		m.emit(events.Event{Type: events.TypeInfo, Name: "pcr11", State: "no-tpm"})
		return
	}
	fields := map[string]string{}
	for _, dir := range banks {
		value, err := os.ReadFile(filepath.Join(dir, "11"))
		if err != nil {
			continue
		}
		bank := strings.TrimPrefix(filepath.Base(dir), "pcr-")
		fields[bank] = strings.ToLower(strings.TrimSpace(string(value)))
	}
	m.emit(events.Event{Type: events.TypeInfo, Name: "pcr11", State: "read", Fields: fields})
}
