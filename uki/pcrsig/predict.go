package pcrsig

import (
	"crypto"
	"errors"
	"fmt"
	"strings"

	"github.com/kiln-os/kiln/measure/pcr"
	"github.com/kiln-os/kiln/uki/pe"
)

// Errors returned by this package, wrapped with the detail at fault.
var (
	ErrSections = errors.New("pcrsig: invalid UKI sections")
	ErrBank     = errors.New("pcrsig: unsupported PCR bank")
	ErrPhase    = errors.New("pcrsig: unknown boot phase")
	ErrKey      = errors.New("pcrsig: unsupported PCR key")
)

// PCR is the register systemd-stub measures the UKI into.
const PCR = 11

// MeasuredSections are the sections systemd-stub 252 measures, in the
// order it measures them (unified_sections[] minus .pcrsig).
var MeasuredSections = []string{".linux", ".osrel", ".cmdline", ".initrd", ".splash", ".dtb", ".pcrpkey"}

// PhaseUKI keys the value right after the stub measured the sections.
const PhaseUKI = ""

// Predictions holds predicted PCR 11 values by bank, then by phase:
// PhaseUKI, or one of pcr.Phases for the value after that phase (and all
// earlier ones) was measured.
type Predictions map[crypto.Hash]map[string][]byte

// PhasePath returns systemd's phase expression for phase: the words
// measured up to and including it, joined with ":" (the argument of
// `systemd-measure --phase=`). It returns "" for PhaseUKI and for an
// unknown phase.
func PhasePath(phase string) string {
	phases := pcr.Phases()
	for i, p := range phases {
		if p == phase {
			return strings.Join(phases[:i+1], ":")
		}
	}
	return ""
}

// Predict returns the PCR 11 values of banks after systemd-stub 252 boots a
// UKI with sections, and after each of pcr.Phases. Sections the stub does not
// measure are ignored; .linux must be present, as the stub requires it.
func Predict(sections []pe.Section, banks []crypto.Hash) (Predictions, error) {
	measured, err := measuredData(sections)
	if err != nil {
		return nil, err
	}
	predictions := make(Predictions, len(banks))
	for _, bank := range banks {
		if _, err := pcr.AlgID(bank); err != nil || !bank.Available() {
			return nil, fmt.Errorf("%w: %v", ErrBank, bank)
		}
		predictions[bank] = predictBank(bank, measured)
	}
	return predictions, nil
}

// measuredData returns the data of the measured sections, indexed like
// MeasuredSections; nil for a section that is absent or empty.
func measuredData(sections []pe.Section) ([][]byte, error) {
	data := make([][]byte, len(MeasuredSections))
	seen := make(map[string]bool, len(sections))
	for _, s := range sections {
		if seen[s.Name] {
			return nil, fmt.Errorf("%w: %s twice", ErrSections, s.Name)
		}
		seen[s.Name] = true
		for i, name := range MeasuredSections {
			if s.Name == name {
				data[i] = s.Data
			}
		}
	}
	if len(data[0]) == 0 {
		return nil, fmt.Errorf("%w: no .linux section (systemd-stub refuses to boot without one)", ErrSections)
	}
	return data, nil
}

// predictBank replays the stub's measurements and Kiln's phases for bank.
func predictBank(bank crypto.Hash, measured [][]byte) map[string][]byte {
	value := pcr.Zero(bank)
	for i, data := range measured {
		if len(data) == 0 {
			continue
		}
		value = pcr.Extend(bank, value, append([]byte(MeasuredSections[i]), 0))
		value = pcr.Extend(bank, value, data)
	}
	byPhase := map[string][]byte{PhaseUKI: value}
	for _, phase := range pcr.Phases() {
		value = pcr.Extend(bank, value, []byte(phase))
		byPhase[phase] = value
	}
	return byPhase
}
