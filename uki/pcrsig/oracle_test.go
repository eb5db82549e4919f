package pcrsig

// Oracle tests: systemd-measure 252 (Debian's systemd package) calculates
// and signs the same UKI sections; signing needs a TPM for its trial policy
// session, so it runs against swtpm through libtss2-tcti-swtpm.

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-os/kiln/internal/oracle"
	"github.com/kiln-os/kiln/measure/pcr"
	"github.com/kiln-os/kiln/uki/pe"
)

const systemdMeasure = "/usr/lib/systemd/systemd-measure"

func requireSystemdMeasure(t *testing.T) {
	t.Helper()
	oracle.Require(t, systemdMeasure, "systemd")
}

// sectionArgs writes the measured sections to dir and returns the
// systemd-measure options naming them.
func sectionArgs(t *testing.T, dir string, sections []pe.Section) []string {
	t.Helper()
	var args []string
	for _, s := range sections {
		if !strings.Contains(strings.Join(MeasuredSections, " "), s.Name) {
			continue // .uname .sbat .pcrsig: systemd-measure 252 has no option for them
		}
		path := filepath.Join(dir, strings.TrimPrefix(s.Name, "."))
		if err := os.WriteFile(path, s.Data, 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--"+strings.TrimPrefix(s.Name, ".")+"="+path)
	}
	return append(args, "--bank=sha256", "--bank=sha384", "--json=short")
}

func phaseArgs(phases []string) []string {
	var args []string
	for _, p := range phases {
		args = append(args, "--phase="+PhasePath(p))
	}
	return args
}

func runMeasure(t *testing.T, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(systemdMeasure, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if strings.Contains(stderr.String(), "TCTI") || strings.Contains(stderr.String(), "tss2") {
			t.Skipf("systemd-measure sign cannot reach swtpm (install Debian packages libtss2-esys-3.0.2-0 and libtss2-tcti-swtpm0): %s", stderr.String())
		}
		t.Fatalf("systemd-measure %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

func TestOracleCalculate(t *testing.T) {
	requireSystemdMeasure(t)
	sections := testSections(t)
	phases := append([]string{PhaseUKI}, pcr.Phases()...)
	args := append([]string{"calculate"}, sectionArgs(t, t.TempDir(), sections)...)
	out := runMeasure(t, append(args, phaseArgs(phases)...)...)
	var doc map[string][]struct {
		Phase string `json:"phase"`
		PCR   int    `json:"pcr"`
		Hash  string `json:"hash"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("systemd-measure output: %v\n%s", err, out)
	}
	predictions, err := Predict(sections, testBanks)
	if err != nil {
		t.Fatal(err)
	}
	for _, bank := range testBanks {
		entries := doc[bankNames[bank]]
		if len(entries) != len(phases) {
			t.Fatalf("systemd-measure gave %d %s values, want %d:\n%s", len(entries), bankNames[bank], len(phases), out)
		}
		for i, phase := range phases {
			e := entries[i]
			if got := predictions[bank][phase]; e.Phase != PhasePath(phase) || e.PCR != PCR || e.Hash != hex.EncodeToString(got) {
				t.Errorf("%s phase %q: Predict = %x, systemd-measure says %+v", bankNames[bank], phase, got, e)
			}
		}
	}
}

// startSwtpm runs swtpm for the test and returns its TCTI for systemd.
func startSwtpm(t *testing.T) string { return "swtpm:path=" + oracle.Swtpm(t) }

func TestOracleSign(t *testing.T) {
	requireSystemdMeasure(t)
	tcti := startSwtpm(t)
	sections := testSections(t)
	predictions, err := Predict(sections, testBanks)
	if err != nil {
		t.Fatal(err)
	}
	for _, phases := range [][]string{pcr.Phases(), {PhaseUKI, "ready"}} {
		want, err := Sign(predictions, testKey(t), phases)
		if err != nil {
			t.Fatal(err)
		}
		args := append([]string{"sign"}, sectionArgs(t, t.TempDir(), sections)...)
		args = append(args, phaseArgs(phases)...)
		args = append(args, "--private-key=testdata/pcr-test.key", "--public-key=testdata/pcr-test.pub", "--tpm2-device="+tcti)
		if got := runMeasure(t, args...); !bytes.Equal(got, want) {
			t.Errorf("phases %q: Sign =\n%s\nsystemd-measure sign =\n%s", phases, want, got)
		}
	}
}
