package fat

// Oracle tests: fsck.vfat (dosfstools) checks the images and mtools reads
// them back.

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kiln-os/kiln/internal/oracle"
)

type oracleCase struct {
	name string
	opts Options
	want Type
	bits string // as fsck.vfat -v names the FAT type
}

func oracleCases() []oracleCase {
	return []oracleCase{
		{"fat12-1MiB", Options{Size: 1 << 20, Label: "KILN BOOT", VolumeID: 0x12345678, ModTime: testTime}, FAT12, "12 bit entries"},
		{"fat16-16MiB", Options{Size: 16 << 20, VolumeID: 1, ModTime: testTime}, FAT16, "16 bit entries"},
		{"fat32-esp-512MiB", Options{Size: 512 << 20, Label: "EFI", VolumeID: 0xC0FFEE, ModTime: testTime}, FAT32, "32 bit entries"},
	}
}

func requireTool(t *testing.T, name, pkg string) { oracle.Require(t, name, pkg) }

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "TZ=UTC", "LC_ALL=C.UTF-8")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return string(out)
}

// fsck runs fsck.vfat read-only and fails on anything but the banner and
// the summary line.
func fsck(t *testing.T, img string) string {
	t.Helper()
	out := run(t, "fsck.vfat", "-n", "-v", img)
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if strings.Contains(line, "differ") || strings.Contains(line, "rror") ||
			strings.Contains(line, "Leaving filesystem unchanged") {
			t.Errorf("fsck.vfat -n %s:\n%s", img, out)
			break
		}
	}
	return out
}

func TestFsckVfat(t *testing.T) {
	requireTool(t, "fsck.vfat", "dosfstools")
	for _, tc := range oracleCases() {
		t.Run(tc.name, func(t *testing.T) {
			if g, err := chooseGeometry(tc.opts.Size, tc.opts.Type); err != nil || g.typ != tc.want {
				t.Fatalf("geometry %+v, %v; want %v", g, err, tc.want)
			}
			out := fsck(t, writeImage(t, tc.opts, espFiles()))
			if !strings.Contains(out, tc.bits) {
				t.Errorf("fsck.vfat does not call it %v:\n%s", tc.want, out)
			}
		})
	}
}

// TestMtools lists every file with mdir and extracts them with mcopy.
func TestMtools(t *testing.T) {
	requireTool(t, "mcopy", "mtools")
	for _, tc := range oracleCases() {
		t.Run(tc.name, func(t *testing.T) {
			img := writeImage(t, tc.opts, espFiles())
			checkListing(t, img)
			checkExtract(t, img)
			if tc.opts.Label != "" {
				if out := run(t, "mlabel", "-i", img, "-s", "::"); !strings.Contains(out, "Volume label is "+tc.opts.Label) {
					t.Errorf("mlabel -s: %s", out)
				}
			}
		})
	}
}

func checkListing(t *testing.T, img string) {
	t.Helper()
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(run(t, "mdir", "-i", img, "-/", "-b", "::/")), "\n") {
		if p := strings.TrimPrefix(line, "::/"); !strings.HasSuffix(p, "/") {
			got = append(got, p)
		}
	}
	var want []string
	for _, f := range espFiles() {
		want = append(want, strings.TrimPrefix(f.Path, "/"))
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("mdir lists\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func checkExtract(t *testing.T, img string) {
	t.Helper()
	out := t.TempDir()
	run(t, "mcopy", "-i", img, "-s", "-n", "-m", "::/", out)
	for _, f := range espFiles() {
		got, err := os.ReadFile(filepath.Join(out, filepath.FromSlash(f.Path)))
		if err != nil {
			t.Errorf("mcopy: %v", err)
			continue
		}
		if !bytes.Equal(got, f.Data) {
			t.Errorf("mcopy %s: %d bytes differ from the %d written", f.Path, len(got), len(f.Data))
		}
	}
}

// TestRenameKeepsVolumeClean renames a UKI the way boot counting does and
// creates a file, with mtools, and has fsck.vfat check the result: our
// directories must be ones that other writers can extend.
func TestRenameKeepsVolumeClean(t *testing.T) {
	requireTool(t, "mren", "mtools")
	requireTool(t, "fsck.vfat", "dosfstools")
	for _, tc := range oracleCases() {
		t.Run(tc.name, func(t *testing.T) {
			img := writeImage(t, tc.opts, espFiles())
			run(t, "mren", "-i", img, "::/EFI/Linux/kiln-0.1.0+3.efi", "::/EFI/Linux/kiln-0.1.0+2-1-renamed-with-a-longer-name.efi")
			seed := filepath.Join(t.TempDir(), "random-seed")
			if err := os.WriteFile(seed, pattern("seed", 32), 0o644); err != nil {
				t.Fatal(err)
			}
			run(t, "mcopy", "-i", img, "-o", seed, "::/loader/random-seed")
			fsck(t, img)
			if out := run(t, "mdir", "-i", img, "-b", "::/EFI/Linux"); !strings.Contains(out, "kiln-0.1.0+2-1-renamed-with-a-longer-name.efi") {
				t.Errorf("renamed file missing:\n%s", out)
			}
		})
	}
}
