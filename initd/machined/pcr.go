package machined

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/sirupsen/logrus"

	"github.com/kiln-os/kiln/initd/disks"
	"github.com/kiln-os/kiln/initd/events"
	"github.com/kiln-os/kiln/initd/pcrphase"
	"github.com/kiln-os/kiln/initd/resources"
	"github.com/kiln-os/kiln/initd/stage1"
	"github.com/kiln-os/kiln/measure/eventlog"
	"github.com/kiln-os/kiln/measure/pcr"
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
	for _, phase := range []string{pcr.PhaseEnterInitrd, pcr.PhaseLeaveInitrd} {
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
		m.reportPCR11(phase, fields)
	}
}

// reportPCR11 publishes PCR 11 after a phase as an event and as a runtime/PCR11 resource.
func (m *Machined) reportPCR11(phase string, values map[string]string) {
	m.emit(events.Event{Type: events.TypeInfo, Name: "pcr11", State: phase, Fields: values})
	m.setResource(resources.NamespaceRuntime, resources.TypePCR11, phase, &resources.PCR11Spec{Phase: phase, Values: values})
}

// lockState extends PCR 11 with "sysinit" and reports the value: from here on STATE's key,
// sealed to the value after leave-initrd, does not unseal in this boot. It runs once per
// boot, right after Storage (the LockState phase) or, when the boot fails or is shut down
// before that, on the way out; later calls return the first result.
func (m *Machined) lockState() error {
	m.lockOnce.Do(func() { m.lockErr = m.measure(pcr.PhaseSysinit) })
	return m.lockErr
}

// lockStateTask is the LockState phase: move PCR 11 on, then prove the key is shut.
func (m *Machined) lockStateTask(_ context.Context, log logrus.FieldLogger) error {
	if err := m.lockState(); err != nil {
		return fmt.Errorf("measure %s: %w", pcr.PhaseSysinit, err)
	}
	return disks.VerifyLock(log, m.emit)
}

// measureReady extends PCR 11 with "ready" and reports the value.
func (m *Machined) measureReady() error { return m.measure(pcr.PhaseReady) }

// measurePhase extends PCR 11 with a phase word in every bank and reports the value. A
// machine without a TPM has nothing to extend.
func (m *Machined) measurePhase(word string) error {
	bankNames := pcrphase.Banks(pcrphase.Sysfs)
	if len(bankNames) == 0 {
		return nil
	}
	if err := pcrphase.Extend(pcrphase.Device, bankNames, word); err != nil {
		return err
	}
	m.reportPCR11(word, pcrphase.Read(pcrphase.Sysfs))
	return nil
}

// eventLog is the firmware's TCG event log, readable once securityfs is mounted.
const eventLog = "/sys/kernel/security/tpm0/binary_bios_measurements"

// verifyEventLog replays the firmware event log for PCRs 0-7 (SHA-256) and compares the
// result with the TPM: a mismatch means the log does not explain what the firmware measured,
// and is reported as an event for the operator. It never stops the boot: the PCRs, not the
// log, are what sealing and attestation rely on.
func (m *Machined) verifyEventLog() {
	data, err := os.ReadFile(eventLog)
	if err != nil {
		return // no TPM or no UEFI: nothing to verify
	}
	evs, err := eventlog.Parse(data)
	if err != nil {
		m.emit(events.Event{Type: events.TypeInfo, Name: "eventlog", State: "invalid", Error: err.Error()})
		return
	}
	pcrs := []int{0, 1, 2, 3, 4, 5, 6, 7}
	replayed := eventlog.Replay(evs, eventlog.AlgSHA256, 32, pcrs)
	actual := pcrphase.ReadPCRs(pcrphase.Sysfs, "sha256", pcrs)
	mismatches := eventlog.Compare(replayed, actual)
	fields := map[string]string{"events": fmt.Sprint(len(evs)), "pcrs": "0-7", "bank": "sha256"}
	if len(mismatches) == 0 {
		m.emit(events.Event{Type: events.TypeInfo, Name: "eventlog", State: "verified", Fields: fields})
		return
	}
	for _, mm := range mismatches {
		fields[fmt.Sprintf("pcr%d", mm.PCR)] = fmt.Sprintf("log %x, tpm %x", mm.Replayed, mm.Actual)
	}
	m.Log.WithField("mismatches", len(mismatches)).Warn("firmware event log does not match the TPM")
	m.emit(events.Event{Type: events.TypeInfo, Name: "eventlog", State: "mismatch", Fields: fields})
}
