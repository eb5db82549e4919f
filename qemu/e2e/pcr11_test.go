package e2e

import (
	"bytes"
	"debug/pe"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kiln-os/kiln/internal/oracle"
	"github.com/kiln-os/kiln/pipeline"
	"github.com/kiln-os/kiln/uki/pcrsig"
)

const systemdMeasure = "/usr/lib/systemd/systemd-measure"

// The manifest's pcr11 lists each bank's phases in boot order, and an independent tool
// agrees with every value: systemd-measure, given the built UKI's sections and the
// manifest's phase words in the order the manifest lists them (issue 12, hole 3). No boot.
func TestManifestPCR11MatchesSystemdMeasure(t *testing.T) {
	img := requireImage(t)
	oracle.Require(t, systemdMeasure, "systemd")
	raw, err := os.ReadFile(filepath.Join(img.out, pipeline.ManifestName))
	if err != nil {
		t.Fatal(err)
	}
	order := phaseOrder(t, raw)
	if want := []string{"uki", "enter-initrd", "leave-initrd", "sysinit", "ready"}; !slices.Equal(order, want) {
		t.Fatalf("manifest pcr11 phases in the order %q, want %q", order, want)
	}

	uki, err := pe.Open(artifact(t, img, "uki"))
	if err != nil {
		t.Fatal(err)
	}
	defer uki.Close()
	dir := t.TempDir()
	args := []string{"calculate", "--bank=sha256", "--bank=sha384", "--json=short"}
	for _, s := range uki.Sections {
		if !slices.Contains(pcrsig.MeasuredSections, s.Name) {
			continue
		}
		data, err := s.Data()
		if err != nil {
			t.Fatal(err)
		}
		if int(s.VirtualSize) < len(data) {
			data = data[:s.VirtualSize] // systemd-stub measures VirtualSize bytes
		}
		path := filepath.Join(dir, strings.TrimPrefix(s.Name, "."))
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--"+strings.TrimPrefix(s.Name, ".")+"="+path)
	}
	var words []string
	for _, phase := range order[1:] { // each phase extends the words before it
		words = append(words, phase)
		args = append(args, "--phase="+strings.Join(words, ":"))
	}
	var stderr bytes.Buffer
	cmd := exec.Command(systemdMeasure, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("systemd-measure: %v\n%s", err, stderr.String())
	}
	var measured map[string][]struct {
		Phase string `json:"phase"`
		Hash  string `json:"hash"`
	}
	if err := json.Unmarshal(out, &measured); err != nil {
		t.Fatalf("systemd-measure output: %v\n%s", err, out)
	}
	for _, bank := range []string{"sha256", "sha384"} {
		if len(measured[bank]) != len(order)-1 {
			t.Fatalf("systemd-measure gave %d %s values, want %d:\n%s", len(measured[bank]), bank, len(order)-1, out)
		}
		for i, e := range measured[bank] {
			phase := order[i+1]
			if want := img.manifest.PCR11[bank][phase]; e.Hash != want {
				t.Errorf("%s after %s (%s): systemd-measure %s, manifest %s", bank, phase, e.Phase, e.Hash, want)
			}
		}
	}
}

// phaseOrder returns the phase keys of the manifest's pcr11.sha256 in the order written.
func phaseOrder(t *testing.T, manifest []byte) []string {
	t.Helper()
	var top struct {
		PCR11 map[string]json.RawMessage `json:"pcr11"`
	}
	if err := json.Unmarshal(manifest, &top); err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(top.PCR11["sha256"]))
	var keys []string
	if _, err := dec.Token(); err != nil { // {
		t.Fatal(err)
	}
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, key.(string))
		if _, err := dec.Token(); err != nil { // the value
			t.Fatal(err)
		}
	}
	return keys
}
