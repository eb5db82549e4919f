package iso

// Oracle tests: xorriso reads the El Torito catalog, lists and extracts the
// tree and the boot image; isovfy (genisoimage) checks the ISO 9660
// structures; isoinfo reads the volume descriptor; fsck.vfat checks the
// extracted boot image.

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/kiln-os/kiln/internal/oracle"
)

func requireTool(t *testing.T, name, pkg string) { oracle.Require(t, name, pkg) }

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C", "TZ=UTC")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return string(out)
}

// isoPath is where Linux and xorriso (without Rock Ridge) show a file.
func isoPath(p string) string { return "/" + strings.ToUpper(strings.TrimPrefix(p, "/")) }

func TestXorrisoElTorito(t *testing.T) {
	requireTool(t, "xorriso", "xorriso")
	img := writeISO(t, testOpts, isoFiles(t))
	out := run(t, "xorriso", "-indev", img, "-report_el_torito", "plain")
	// N, platform, bootable, emulation, load segment, system type, load
	// size (8 MiB in 512-byte sectors), LBA.
	entry := regexp.MustCompile(`El Torito boot img :\s+1\s+UEFI\s+y\s+none\s+0x0000\s+0x00\s+16384\s+\d+`)
	if !entry.MatchString(out) || !strings.Contains(out, "El Torito img path :   1  /EFI.IMG") {
		t.Errorf("xorriso -report_el_torito plain:\n%s", out)
	}
	if !strings.Contains(out, "Volume id    : 'KILN_0_1_0'") {
		t.Errorf("volume id missing:\n%s", out)
	}
}

func TestXorrisoFind(t *testing.T) {
	requireTool(t, "xorriso", "xorriso")
	img := writeISO(t, testOpts, isoFiles(t))
	var got []string
	for _, line := range strings.Split(run(t, "xorriso", "-indev", img, "-find", "/", "-type", "f"), "\n") {
		if strings.HasPrefix(line, "'/") {
			got = append(got, strings.Trim(line, "'"))
		}
	}
	var want []string
	for _, f := range isoFiles(t) {
		want = append(want, isoPath(f.Path))
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("xorriso -find lists\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestXorrisoExtract extracts every file and the boot image and compares
// bytes; fsck.vfat checks the boot image as extracted through the catalog.
func TestXorrisoExtract(t *testing.T) {
	requireTool(t, "xorriso", "xorriso")
	files := isoFiles(t)
	img := writeISO(t, testOpts, files)
	dir := t.TempDir()
	run(t, "xorriso", "-osirrox", "on", "-indev", img, "-extract", "/", filepath.Join(dir, "tree"),
		"-extract_boot_images", filepath.Join(dir, "boot"))
	for _, f := range files {
		got, err := os.ReadFile(filepath.Join(dir, "tree", filepath.FromSlash(isoPath(f.Path))))
		if err != nil || !bytes.Equal(got, f.Data) {
			t.Errorf("%s: extracted %d bytes (%v), want the %d written", f.Path, len(got), err, len(f.Data))
		}
	}
	boot := filepath.Join(dir, "boot", "eltorito_img1_uefi.img")
	if got := readFile(t, boot); !bytes.Equal(got, files[0].Data) {
		t.Errorf("boot image: %d bytes differ from efi.img", len(got))
	}
	if _, err := exec.LookPath("fsck.vfat"); err == nil {
		run(t, "fsck.vfat", "-n", boot)
	}
}

func TestIsovfy(t *testing.T) {
	requireTool(t, "isovfy", "genisoimage")
	img := writeISO(t, testOpts, isoFiles(t))
	if out := run(t, "isovfy", img); !strings.Contains(out, "No errors found") {
		t.Errorf("isovfy:\n%s", out)
	}
}

// TestIsoinfo checks the descriptor dates and the El Torito entry as
// isoinfo decodes them.
func TestIsoinfo(t *testing.T) {
	requireTool(t, "isoinfo", "genisoimage")
	img := writeISO(t, testOpts, isoFiles(t))
	out := run(t, "isoinfo", "-d", "-i", img)
	for _, want := range []string{"Volume id: KILN_0_1_0", "Logical block size is: 2048", "Arch 239", "Boot media 0 (No Emulation Boot)", "Bootid 88 (bootable)"} {
		if !strings.Contains(out, want) {
			t.Errorf("isoinfo -d lacks %q:\n%s", want, out)
		}
	}
	listing := run(t, "isoinfo", "-l", "-i", img)
	if !strings.Contains(listing, "Jan  2 2024") || strings.Count(listing, "Jan  2 2024") != strings.Count(listing, "[") {
		t.Errorf("not every record is dated %v:\n%s", testTime, listing)
	}
	if !strings.Contains(listing, fmt.Sprintf("%d Jan  2 2024", 8<<20)) || !strings.Contains(listing, "MANIFEST.JSON;1") {
		t.Errorf("isoinfo -l:\n%s", listing)
	}
}

// TestHybridMBR reads the hybrid image as a disk: sfdisk finds one EFI
// System partition exactly over the boot image, and mtools reads the FAT
// volume in it.
func TestHybridMBR(t *testing.T) {
	requireTool(t, "sfdisk", "fdisk")
	opts := testOpts
	opts.HybridMBR = true
	files := isoFiles(t)
	img := writeISO(t, opts, files)
	data := readFile(t, img)
	out := run(t, "sfdisk", "--dump", img)
	m := regexp.MustCompile(`kiln.iso1 : start=\s*(\d+), size=\s*(\d+), type=ef\n`).FindStringSubmatch(out)
	if m == nil || strings.Count(out, "start=") != 1 {
		t.Fatalf("sfdisk --dump:\n%s", out)
	}
	var start, size int
	fmt.Sscan(m[1], &start)
	fmt.Sscan(m[2], &size)
	if size*512 != len(files[0].Data) || !bytes.Equal(data[start*512:start*512+size*512], files[0].Data) {
		t.Errorf("partition %d+%d sectors is not the boot image", start, size)
	}
	if _, err := exec.LookPath("mdir"); err == nil {
		if out := run(t, "mdir", "-i", fmt.Sprintf("%s@@%d", img, start*512), "-b", "::/EFI/BOOT"); !strings.Contains(out, "BOOTX64.EFI") {
			t.Errorf("mdir in the hybrid partition:\n%s", out)
		}
	}
	if _, err := exec.LookPath("isovfy"); err == nil {
		if out := run(t, "isovfy", img); !strings.Contains(out, "No errors found") {
			t.Errorf("isovfy:\n%s", out)
		}
	}
}
