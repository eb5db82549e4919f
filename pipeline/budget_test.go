package pipeline

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-os/kiln/rootfs/squashfs"
)

// The size report splits the UKI into parts that add up to it, largest first; over the
// budget the build fails with the size, the budget, its spec field and the largest parts.
func TestUKISizesAndBudget(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, size int) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, make([]byte, size), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	stored, _ := json.Marshal([]squashfs.FileStored{
		{Path: "usr/bin/containerd", Size: 23e6, Stored: 8_800_000},
		{Path: "usr/bin/runc", Size: 9e6, Stored: 3_900_000},
		{Path: "etc/os-release", Size: 100, Stored: 60},
	})
	in := ukiSizesIn{
		UKI: write("kiln.efi", 23_700_000), Vmlinuz: write("vmlinuz", 5_450_000), Initramfs: write("initramfs", 18_100_000),
		Squashfs: write("rootfs.sqsh", 11_800_000), Stored: filepath.Join(dir, "stored.json"), MaxBytes: 25_000_000, Dir: dir,
	}
	if err := os.WriteFile(in.Stored, stored, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := stepUKISizes(t.Context(), in)
	if err != nil {
		t.Fatalf("under budget: %v", err)
	}
	data, err := os.ReadFile(out.Path)
	if err != nil {
		t.Fatal(err)
	}
	var report UKISizes
	if err := json.Unmarshal(data, &report); err != nil {
		t.Fatal(err)
	}
	var sum int64
	for i, p := range report.Parts {
		sum += p.Bytes
		if i > 0 && p.Bytes > report.Parts[i-1].Bytes {
			t.Errorf("parts not largest first: %+v", report.Parts)
		}
	}
	if sum != report.UKI || report.Parts[0].Name != "rootfs /usr/bin/containerd" {
		t.Errorf("parts %+v add up to %d, want the UKI's %d with containerd first", report.Parts, sum, report.UKI)
	}

	in.MaxBytes = 20_000_000
	_, err = stepUKISizes(t.Context(), in)
	for _, want := range []string{"the UKI is 23700000 bytes (23.70 MB), over its budget of 20000000 (uki.maxBytes in the spec)",
		"rootfs /usr/bin/containerd 8.80 MB, machined (the initramfs's /init, compressed with it) 6.30 MB, kernel (.linux, vmlinuz) 5.45 MB"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("over budget: %v, want %q", err, want)
		}
	}
}
