package pipeline

import (
	"bytes"
	"crypto"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"github.com/kiln-os/kiln/internal/atomicfile"
	"github.com/kiln-os/kiln/kernel"
	"github.com/kiln-os/kiln/measure/pcr"
	"github.com/kiln-os/kiln/uki/pcrsig"
)

// ManifestName is the manifest's file name in the output directory.
const ManifestName = "manifest.json"

// Manifest names every artifact of a build. Tests and tools find artifacts only through it.
type Manifest struct {
	Name            string     `json:"name"`
	Version         string     `json:"version"`
	SourceDateEpoch int64      `json:"sourceDateEpoch"`
	Cmdline         string     `json:"cmdline"`
	Kernel          KernelInfo `json:"kernel"`
	UKI             *UKIInfo   `json:"uki,omitempty"`
	// Runtime names the container runtime's versions (containerd, runc, the Go that built
	// them, the libseccomp linked into runc).
	Runtime *RuntimeInfo `json:"runtime,omitempty"`
	// Kubernetes names the Kubernetes payload's versions; the payload itself is the
	// artifact "kubernetes-payload".
	Kubernetes *KubernetesInfo `json:"kubernetes,omitempty"`
	// PCR11 is the predicted PCR 11 by bank ("sha256", "sha384") and phase ("uki" after
	// the stub's measurements, then each of pcr.Phases), in hex.
	PCR11     map[string]PhaseValues `json:"pcr11,omitempty"`
	Artifacts map[string]Artifact    `json:"artifacts"`
}

// UKIInfo describes the unified kernel image: the stub it was built on and the SHA-256 of
// each section, in the order systemd-stub measures them.
type UKIInfo struct {
	Stub       string          `json:"stub"`
	StubSHA256 string          `json:"stubSha256"`
	Sections   []SectionDigest `json:"sections"`
	Signer     string          `json:"signerCertSha256"`
}

// SectionDigest is one UKI section.
type SectionDigest struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
	Size   int    `json:"size"`
}

// KernelInfo describes the kernel that was built.
type KernelInfo struct {
	Release   string `json:"release"`
	Source    string `json:"source"`
	SourceSHA string `json:"sourceSha256"`
	BuildKey  string `json:"buildKey"`
}

// Artifact is one output file; Path is relative to the output directory.
type Artifact struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// manifestIn is what the manifest is assembled from: the spec, the epoch, the outputs of
// the kernel and UKI steps, and the staged artifacts.
type manifestIn struct {
	Spec       Spec
	Epoch      int64
	Kernel     *kernel.Result
	UKI        ukiOut
	Runtime    RuntimeInfo
	Kubernetes *KubernetesInfo
	Artifacts  map[string]Artifact
}

func newManifest(in manifestIn) *Manifest {
	uki, runtime := in.UKI.Info, in.Runtime
	return &Manifest{
		Name: in.Spec.Name, Version: in.Spec.Version, SourceDateEpoch: in.Epoch, Cmdline: in.Spec.Kernel.Cmdline,
		Kernel:     KernelInfo{Release: in.Kernel.Release, Source: kernelSource(), SourceSHA: kernel.SourceSHA256, BuildKey: in.Kernel.Key},
		UKI:        &uki,
		Runtime:    &runtime,
		Kubernetes: in.Kubernetes,
		PCR11:      pcr11JSON(in.UKI.PCR11),
		Artifacts:  in.Artifacts,
	}
}

// ReadManifest loads dir/manifest.json.
func ReadManifest(dir string) (*Manifest, error) {
	data, err := os.ReadFile(filepath.Join(dir, ManifestName))
	if err != nil {
		return nil, fmt.Errorf("read manifest (run `make` first): %w", err)
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, ManifestName), err)
	}
	return &m, nil
}

// Path returns the absolute path of a named artifact in dir, or an error naming what exists.
func (m *Manifest) Path(dir, name string) (string, error) {
	a, ok := m.Artifacts[name]
	if !ok {
		names := make([]string, 0, len(m.Artifacts))
		for n := range m.Artifacts {
			names = append(names, n)
		}
		sort.Strings(names)
		return "", fmt.Errorf("manifest has no artifact %q (has %v)", name, names)
	}
	return filepath.Join(dir, filepath.FromSlash(a.Path)), nil
}

// publish moves every staged artifact into out, then writes the manifest atomically, so a
// reader of the manifest never finds an artifact it does not describe.
func publish(out, staging string, m *Manifest) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	stale := staleArtifacts(out, m)
	if err := os.Remove(filepath.Join(out, ManifestName)); err != nil && !os.IsNotExist(err) {
		return err
	}
	for _, path := range stale {
		if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	for _, a := range m.Artifacts {
		if err := os.Rename(filepath.Join(staging, a.Path), filepath.Join(out, a.Path)); err != nil {
			return err
		}
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(out, ManifestName), append(data, '\n'), 0o644)
}

// staleArtifacts are the files the manifest in out names that m does not (a payload or a
// UKI under an earlier name): publishing removes them, so that out holds one build. Only
// files an earlier manifest named are removed, never anything else a user put there.
func staleArtifacts(out string, m *Manifest) []string {
	data, err := os.ReadFile(filepath.Join(out, ManifestName))
	if err != nil {
		return nil
	}
	var old Manifest
	if json.Unmarshal(data, &old) != nil {
		return nil
	}
	keep := map[string]bool{}
	for _, a := range m.Artifacts {
		keep[a.Path] = true
	}
	var stale []string
	for _, a := range old.Artifacts {
		if !keep[a.Path] && filepath.IsLocal(a.Path) {
			stale = append(stale, filepath.Join(out, a.Path))
		}
	}
	return stale
}

// PhaseValues is one bank's PCR 11 by phase word. It is written in boot order ("uki",
// then pcr.Phases), not sorted as encoding/json sorts maps, so that a reader sees the boot
// as it happens and can feed the words in turn to `systemd-measure --phase`.
type PhaseValues map[string]string

// bootOrder is the key order of PhaseValues; other keys follow, sorted.
func bootOrder() []string { return append([]string{"uki"}, pcr.Phases()...) }

// MarshalJSON writes the phases in boot order.
func (v PhaseValues) MarshalJSON() ([]byte, error) {
	if v == nil {
		return []byte("null"), nil
	}
	keys := make([]string, 0, len(v))
	for _, k := range bootOrder() {
		if _, ok := v[k]; ok {
			keys = append(keys, k)
		}
	}
	var rest []string
	for k := range v {
		if !slices.Contains(keys, k) {
			rest = append(rest, k)
		}
	}
	slices.Sort(rest)
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, k := range append(keys, rest...) {
		if i > 0 {
			buf.WriteByte(',')
		}
		name, err := json.Marshal(k)
		if err != nil {
			return nil, err
		}
		value, err := json.Marshal(v[k])
		if err != nil {
			return nil, err
		}
		buf.Write(name)
		buf.WriteByte(':')
		buf.Write(value)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

func pcr11JSON(pred pcrsig.Predictions) map[string]PhaseValues {
	if pred == nil {
		return nil
	}
	names := map[crypto.Hash]string{crypto.SHA256: "sha256", crypto.SHA384: "sha384"}
	out := map[string]PhaseValues{}
	for bank, phases := range pred {
		byPhase := PhaseValues{}
		for phase, value := range phases {
			if phase == pcrsig.PhaseUKI {
				phase = "uki"
			}
			byPhase[phase] = hex.EncodeToString(value)
		}
		out[names[bank]] = byPhase
	}
	return out
}
