package pipeline

import (
	"bytes"
	"crypto"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-os/kiln/kernel"
	"github.com/kiln-os/kiln/uki/pcrsig"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// The manifest is assembled from step outputs alone. testdata/manifest.golden.json was
// written by -update from the outputs below and checked by hand against a manifest of a
// real build (same keys, same nesting, "uki" for the stub's PCR 11 value); a change to the
// format tools read must show up here as a diff.
func TestManifestFromStepOutputs(t *testing.T) {
	spec := Defaults()
	kern := &kernel.Result{Release: "6.1.0-test", Key: "kernel-key", Vmlinuz: "/cache/vmlinuz"}
	uki := ukiOut{
		Path: "/cache/uki.efi",
		Info: UKIInfo{Stub: StubPackage, StubSHA256: StubSHA256, Signer: "signer",
			Sections: []SectionDigest{{Name: ".osrel", SHA256: "osrel-sum", Size: 3}, {Name: ".linux", SHA256: "linux-sum", Size: 5}}},
		PCR11: pcrsig.Predictions{
			crypto.SHA256: {pcrsig.PhaseUKI: {0x01}, "enter-initrd": {0x05}, "leave-initrd": {0x02}, "sysinit": {0x06}, "ready": {0x07}},
			crypto.SHA384: {pcrsig.PhaseUKI: {0x03}, "ready": {0x04}},
		},
	}
	artifacts := map[string]Artifact{
		"uki":     {Path: ukiName(spec.Version), SHA256: "uki-sum", Size: 7},
		"vmlinuz": {Path: "vmlinuz", SHA256: "vmlinuz-sum", Size: 5},
	}
	runtime := RuntimeInfo{Containerd: "v2.4.2", Runc: "v1.5.3", Go: "go1.26.8", Libseccomp: "2.5.4"}
	m := newManifest(manifestIn{Spec: spec, Epoch: testEpoch, Kernel: kern, UKI: uki, Runtime: runtime, Artifacts: artifacts})
	got, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "manifest.golden.json")
	if *update {
		if err := os.WriteFile(golden, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(append(got, '\n'), want) {
		t.Errorf("manifest differs from %s (rerun with -update if intended):\n%s", golden, got)
	}
}

// The phases of a bank are written in boot order, and read back as the same map.
func TestManifestPCR11InBootOrder(t *testing.T) {
	v := PhaseValues{"ready": "05", "sysinit": "04", "uki": "01", "leave-initrd": "03", "enter-initrd": "02", "zz-other": "06"}
	got, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"uki":"01","enter-initrd":"02","leave-initrd":"03","sysinit":"04","ready":"05","zz-other":"06"}`
	if string(got) != want {
		t.Errorf("PhaseValues JSON = %s, want %s", got, want)
	}
	var back PhaseValues
	if err := json.Unmarshal(got, &back); err != nil || len(back) != len(v) || back["sysinit"] != "04" {
		t.Errorf("read back %v, %v", back, err)
	}
}

// Artifacts are staged under their output name whether their step left them in the cache
// or already in the staging directory, and the manifest describes the staged bytes.
func TestStageArtifactsCopiesCachedFilesAndHashesStagedOnes(t *testing.T) {
	cache, staging := t.TempDir(), t.TempDir()
	cached := writeFile(t, cache, "uki.efi", "image")
	staged := writeFile(t, staging, "disk.raw", "disk")
	got, err := stageArtifacts(staging, []artifact{{"uki", "kiln-1.0.efi", cached}, {"disk", "disk.raw", staged}})
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{"uki": "image", "disk": "disk"} {
		a := got[name]
		data, err := os.ReadFile(filepath.Join(staging, a.Path))
		if err != nil || string(data) != content || a.SHA256 != sha256Hex(data) || a.Size != int64(len(content)) {
			t.Errorf("%s: %+v, staged %q, %v", name, a, data, err)
		}
	}
	if err := os.WriteFile(filepath.Join(staging, "kiln-1.0.efi"), []byte("edited"), 0o644); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(cached); string(data) != "image" {
		t.Error("editing a staged artifact changed the cache: staged by link, not copy")
	}
}

// The manifest written by publish names the runtime's versions, and reads back with them.
func TestManifestNamesRuntimeVersions(t *testing.T) {
	want := RuntimeInfo{Containerd: "v2.4.2", Runc: "v1.5.3", Go: "go1.26.8", Libseccomp: "2.5.4"}
	kern := &kernel.Result{Release: "6.1.0-test"}
	m := newManifest(manifestIn{Spec: Defaults(), Epoch: testEpoch, Kernel: kern, Runtime: want, Artifacts: map[string]Artifact{}})
	out := t.TempDir()
	if err := publish(out, t.TempDir(), m); err != nil {
		t.Fatal(err)
	}
	got, err := ReadManifest(out)
	if err != nil {
		t.Fatal(err)
	}
	if got.Runtime == nil || *got.Runtime != want {
		t.Errorf("runtime = %+v, want %+v", got.Runtime, want)
	}
	raw, _ := os.ReadFile(filepath.Join(out, ManifestName))
	for _, key := range []string{`"runtime"`, `"containerd": "v2.4.2"`, `"runc": "v1.5.3"`, `"go": "go1.26.8"`, `"libseccomp": "2.5.4"`} {
		if !bytes.Contains(raw, []byte(key)) {
			t.Errorf("manifest.json lacks %s:\n%s", key, raw)
		}
	}
}

// Publishing removes the files the previous manifest named and the new one does not (a
// payload under its old digest name), and leaves other files alone.
func TestPublishRemovesStaleArtifacts(t *testing.T) {
	out, staging := t.TempDir(), t.TempDir()
	for _, name := range []string{"kubernetes-aaaa.sqsh", "notes.txt"} {
		os.WriteFile(filepath.Join(out, name), []byte("old"), 0o644)
	}
	old := &Manifest{Artifacts: map[string]Artifact{"kubernetes-payload": {Path: "kubernetes-aaaa.sqsh"}, "escape": {Path: "../outside"}}}
	data, _ := json.Marshal(old)
	os.WriteFile(filepath.Join(out, ManifestName), data, 0o644)
	os.WriteFile(filepath.Join(staging, "kubernetes-bbbb.sqsh"), []byte("new"), 0o644)
	if err := publish(out, staging, &Manifest{Artifacts: map[string]Artifact{"kubernetes-payload": {Path: "kubernetes-bbbb.sqsh"}}}); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(out)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != "kubernetes-bbbb.sqsh manifest.json notes.txt" {
		t.Errorf("out holds %v", names)
	}
}
