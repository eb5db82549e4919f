package install

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kiln-os/kiln/internal/oracle"
	"github.com/kiln-os/kiln/pipeline/disk/layout"
)

func TestInstallEmptyDisk(t *testing.T) {
	disk := newDisk(t, testDiskSize)
	res, err := Install(context.Background(), disk, testDiskSize, testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	if res.ESP.Offset != 1<<20 || res.ESP.Size != layout.ESPSize || res.ESP.Name != layout.LabelESP {
		t.Errorf("ESP extent %+v", res.ESP)
	}
	found, err := Probe(disk, testDiskSize)
	if err != nil {
		t.Fatal(err)
	}
	if !found.Kiln || !slices.Equal(found.KilnUKIs, []string{"kiln-0.1.0+3.efi"}) {
		t.Errorf("Probe of the installed disk: Kiln %v, UKIs %q (%s)", found.Kiln, found.KilnUKIs, found)
	}
	// A Kiln disk found later is booted through the same entry the install made.
	if want := res.Entry(""); found.KilnESP == nil || *found.KilnESP != want {
		t.Errorf("Probe's ESP entry %+v, want the install's %+v", found.KilnESP, want)
	}
	if _, err := Install(context.Background(), disk, testDiskSize, testOptions(t)); !errors.Is(err, ErrHoldsKiln) {
		t.Errorf("second install without wipe: got %v, want ErrHoldsKiln", err)
	}
	checkOracles(t, disk.Name(), res)
}

// checkOracles: sgdisk -v finds no problem, fsck.vfat -n none on the ESP, and mtools
// reads every file back.
func checkOracles(t *testing.T, img string, res *Result) {
	t.Helper()
	oracle.Require(t, "sgdisk", "gdisk")
	oracle.Require(t, "fsck.vfat", "dosfstools")
	oracle.Require(t, "mcopy", "mtools")
	if out, err := run(t, "sgdisk", "-v", img); err != nil || !strings.Contains(out, "No problems found.") {
		t.Errorf("sgdisk -v: %v\n%s", err, out)
	}
	esp := filepath.Join(t.TempDir(), "esp.img")
	copyExtent(t, img, esp, res.ESP.Offset, res.ESP.Size)
	if out, err := run(t, "fsck.vfat", "-n", esp); err != nil {
		t.Errorf("fsck.vfat -n: %v\n%s", err, out)
	}
	want, err := espFiles(fakePayload(), "kiln-0.1.0+3.efi", fakeUKI())
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range want {
		out := filepath.Join(t.TempDir(), "out")
		if msg, err := run(t, "mcopy", "-n", "-i", esp, "::"+f.Path, out); err != nil {
			t.Fatalf("mcopy %s: %v\n%s", f.Path, err, msg)
		}
		if got, _ := os.ReadFile(out); !bytes.Equal(got, f.Data) {
			t.Errorf("%s: mtools reads %d bytes, want %d", f.Path, len(got), len(f.Data))
		}
	}
	if out, _ := run(t, "mlabel", "-s", "-i", esp, "::"); !strings.Contains(out, layout.ESPVolumeLabel) {
		t.Errorf("mlabel -s: %s", out)
	}
}

// copyExtent copies [off, off+n) of src into a new sparse file dst.
func copyExtent(t *testing.T, src, dst string, off, n int64) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if err := out.Truncate(n); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	zero := make([]byte, len(buf))
	for pos := int64(0); pos < n; pos += int64(len(buf)) {
		k, err := in.ReadAt(buf[:min(int64(len(buf)), n-pos)], off+pos)
		if err != nil && err != io.EOF {
			t.Fatal(err)
		}
		if !bytes.Equal(buf[:k], zero[:k]) {
			if _, err := out.WriteAt(buf[:k], pos); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestRefusesDiskWithData: each signature alone makes Install refuse without wipe, and
// the refused disk is byte-identical afterwards.
func TestRefusesDiskWithData(t *testing.T) {
	for _, m := range filesystems {
		t.Run(m.name, func(t *testing.T) {
			disk := newDisk(t, MinDiskSize)
			writeAt(t, disk, m.off, m.bytes)
			before := hashFile(t, disk.Name())
			_, err := Install(context.Background(), disk, MinDiskSize, testOptions(t))
			if !errors.Is(err, ErrNotEmpty) || !strings.Contains(err.Error(), m.name) {
				t.Errorf("got %v, want ErrNotEmpty naming %s", err, m.name)
			}
			if hashFile(t, disk.Name()) != before {
				t.Error("the refused disk changed")
			}
		})
	}
}

func TestRefusesSmallDisk(t *testing.T) {
	disk := newDisk(t, MinDiskSize-1<<20)
	if _, err := Install(context.Background(), disk, MinDiskSize-1<<20, testOptions(t)); !errors.Is(err, ErrTooSmall) {
		t.Errorf("got %v, want ErrTooSmall", err)
	}
}

func TestRefusesBadOptionsBeforeWriting(t *testing.T) {
	for name, mutate := range map[string]func(*testing.T, *Options){
		"blessed UKI name": func(_ *testing.T, o *Options) { o.UKIName = "kiln-0.1.0.efi" },
		"not Kiln's":       func(_ *testing.T, o *Options) { o.UKIName = "other-0.1.0+3.efi" },
		"no UKI":           func(_ *testing.T, o *Options) { o.UKI = nil },
		"payload lacks db": func(t *testing.T, o *Options) {
			if err := os.Remove(filepath.Join(o.PayloadDir, "loader/keys/auto/db.auth")); err != nil {
				t.Fatal(err)
			}
		},
		"no payload": func(_ *testing.T, o *Options) { o.PayloadDir = filepath.Join(t.TempDir(), "none") },
	} {
		t.Run(name, func(t *testing.T) {
			disk := newDisk(t, MinDiskSize)
			opts := testOptions(t)
			mutate(t, &opts)
			if _, err := Install(context.Background(), disk, MinDiskSize, opts); err == nil {
				t.Fatal("installed")
			}
			if hashFile(t, disk.Name()) != hashFile(t, newDisk(t, MinDiskSize).Name()) {
				t.Error("the disk was written")
			}
		})
	}
}

// oldDisk is a disk that held another system: a GPT whose partitions hold ext4 and a
// LUKS header, a Kiln STATE header where the new STATE will be, and swap at the start.
func oldDisk(t *testing.T) *os.File {
	t.Helper()
	disk := newDisk(t, testDiskSize)
	opts := testOptions(t)
	if _, err := Install(context.Background(), disk, testDiskSize, opts); err != nil {
		t.Fatal(err)
	}
	found, err := Probe(disk, testDiskSize)
	if err != nil {
		t.Fatal(err)
	}
	state := int64(1<<20 + layout.ESPSize)
	writeAt(t, disk, state, "KILNSTATE")
	writeAt(t, disk, state+512<<10, "KILNSTATE")
	writeAt(t, disk, state+layout.StateSize+1024+0x38, "\x53\xef")
	writeAt(t, disk, 1<<30, "LUKS\xba\xbe") // not at a partition start: not found, not wiped
	if !found.Kiln {
		t.Fatal("old disk not Kiln")
	}
	return disk
}

func TestWipeInstallsOverData(t *testing.T) {
	disk := oldDisk(t)
	found, err := Probe(disk, testDiskSize)
	if err != nil {
		t.Fatal(err)
	}
	names := sigNames(found)
	for _, want := range []string{"gpt", "gpt backup", "mbr", "vfat in partition 1", "kiln-state in partition 2", "ext2/3/4 in partition 3"} {
		if !slices.Contains(names, want) {
			t.Errorf("Probe of the old disk lacks %q: %s", want, found)
		}
	}
	opts := testOptions(t)
	opts.Wipe = true
	res, err := Install(context.Background(), disk, testDiskSize, opts)
	if err != nil {
		t.Fatal(err)
	}
	after, err := Probe(disk, testDiskSize)
	if err != nil {
		t.Fatal(err)
	}
	if got := sigNames(after); !slices.Equal(got, []string{"mbr", "gpt", "vfat in partition 1", "gpt backup"}) {
		t.Errorf("after the install: %s", after)
	}
	checkOracles(t, disk.Name(), res)
}

func sigNames(f Found) []string {
	var names []string
	for _, s := range f.Signatures {
		names = append(names, s.Name)
	}
	return names
}

// TestPowerCut cuts the power after each step: before the GPT is written the disk holds
// nothing Probe or blkid sees (so the next live boot installs again without wipe);
// after it, the disk is installed.
func TestPowerCut(t *testing.T) {
	for _, cut := range []struct {
		syncs int
		step  string
	}{{0, "wipe"}, {1, "esp"}} {
		t.Run(cut.step, func(t *testing.T) {
			disk := oldDisk(t)
			opts := testOptions(t)
			opts.Wipe = true
			_, err := Install(context.Background(), &cutDevice{disk, cut.syncs}, testDiskSize, opts)
			if !errors.Is(err, errCut) || !strings.Contains(err.Error(), cut.step) {
				t.Fatalf("got %v, want the cut after %s", err, cut.step)
			}
			found, err := Probe(disk, testDiskSize)
			if err != nil {
				t.Fatal(err)
			}
			if !found.Empty() {
				t.Errorf("after a cut after %s, Probe finds %s", cut.step, found)
			}
			blkidSeesNothing(t, disk.Name())
			if _, err := Install(context.Background(), disk, testDiskSize, testOptions(t)); err != nil {
				t.Errorf("the next install, without wipe: %v", err)
			}
		})
	}
}

// blkidSeesNothing: blkid -p (low-level probing, no cache) finds no partition table and
// no file system on the disk: it exits 2.
func blkidSeesNothing(t *testing.T, img string) {
	t.Helper()
	oracle.Require(t, "blkid", "util-linux")
	out, err := run(t, "blkid", "-p", img)
	var exit interface{ ExitCode() int }
	if !errors.As(err, &exit) || exit.ExitCode() != 2 {
		t.Errorf("blkid -p: %v\n%s", err, out)
	}
}

func TestCancelled(t *testing.T) {
	disk := newDisk(t, MinDiskSize)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Install(ctx, disk, MinDiskSize, testOptions(t)); !errors.Is(err, context.Canceled) {
		t.Errorf("got %v", err)
	}
}

// TestInstallsGetDifferentGUIDs: two installs with the default random source.
func TestInstallsGetDifferentGUIDs(t *testing.T) {
	a, err := Install(context.Background(), newDisk(t, MinDiskSize), MinDiskSize, testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Install(context.Background(), newDisk(t, MinDiskSize), MinDiskSize, testOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	if a.Table.DiskGUID == b.Table.DiskGUID || a.ESP.GUID == b.ESP.GUID {
		t.Error("two installs share GUIDs")
	}
}

// flipDevice corrupts the UKI as it is written: one byte of every large write into the
// ESP's data region.
type flipDevice struct{ *os.File }

func (d flipDevice) WriteAt(p []byte, off int64) (int, error) {
	if off > 2<<20 && len(p) >= 1<<20 && bytes.Contains(p, []byte("MZ fake uki")) {
		p = bytes.Clone(p)
		p[len(p)/2] ^= 0xff
	}
	return d.File.WriteAt(p, off)
}

// TestReadBackRefusesCorruptESP: an ESP that does not read back as written is never
// committed by a partition table.
func TestReadBackRefusesCorruptESP(t *testing.T) {
	disk := newDisk(t, MinDiskSize)
	_, err := Install(context.Background(), flipDevice{disk}, MinDiskSize, testOptions(t))
	if err == nil || !strings.Contains(err.Error(), "esp read-back") || !strings.Contains(err.Error(), "kiln-0.1.0+3.efi reads back differently") {
		t.Fatalf("got %v", err)
	}
	if found, err := Probe(disk, MinDiskSize); err != nil || !found.Empty() {
		t.Errorf("the disk after a failed read-back: %s, %v", found, err)
	}
}
