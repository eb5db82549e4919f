package iso

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/kiln-os/kiln/internal/oracle"
	"github.com/kiln-os/kiln/pipeline/disk/fat"
)

// bootImageOf opens an ISO and its EFI boot image as a FAT volume, and reads
// EFI/BOOT/BOOTX64.EFI from it.
func bootImageOf(t *testing.T, img []byte) ([]byte, *io.SectionReader) {
	t.Helper()
	im, err := Open(bytes.NewReader(img), int64(len(img)))
	if err != nil {
		t.Fatal(err)
	}
	sr, err := im.EFIBootImage()
	if err != nil {
		t.Fatal(err)
	}
	fsys, err := fat.Open(sr, sr.Size())
	if err != nil {
		t.Fatal(err)
	}
	data, err := fsys.ReadFile("EFI/BOOT/BOOTX64.EFI", 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	return data, sr
}

func TestEFIBootImage(t *testing.T) {
	for _, c := range []struct {
		name     string
		bootSize int64
		hybrid   bool
	}{
		{"small image, sector count", 8 << 20, false},
		{"large image, count 0 (to the end)", 40 << 20, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			files := isoFiles(t)
			files[0].Data = espImage(t, c.bootSize)
			opts := testOpts
			opts.HybridMBR = c.hybrid
			img := readFile(t, writeISO(t, opts, files))
			data, sr := bootImageOf(t, img)
			if string(data) != "not a PE file\n" {
				t.Errorf("BOOTX64.EFI = %q", data)
			}
			if c.bootSize < 32<<20 && sr.Size() != c.bootSize {
				t.Errorf("boot image of %d bytes, want %d", sr.Size(), c.bootSize)
			}
		})
	}
}

func TestOpenRefuses(t *testing.T) {
	img := readFile(t, writeISO(t, testOpts, isoFiles(t)))
	noBoot := readFile(t, writeISO(t, Options{VolumeID: "X", ModTime: testTime}, isoFiles(t)))
	im, err := Open(bytes.NewReader(noBoot), int64(len(noBoot)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := im.EFIBootImage(); !errors.Is(err, ErrNoEFIBoot) {
		t.Errorf("no boot record: %v", err)
	}
	for _, c := range []struct {
		name   string
		break_ func(b []byte)
		open   bool // Open fails, else EFIBootImage
	}{
		{"not an ISO", func(b []byte) { copy(b[16*blockSize+1:], "XXXXX") }, true},
		{"catalog past the end", func(b []byte) { binary.LittleEndian.PutUint32(b[17*blockSize+71:], 1<<30) }, true},
		{"bad validation checksum", func(b []byte) { b[catalogOf(t, b)+4] ^= 1 }, false},
		{"image past the end", func(b []byte) { binary.LittleEndian.PutUint32(b[catalogOf(t, b)+32+8:], 1<<30) }, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := slices.Clone(img)
			c.break_(b)
			im, err := Open(bytes.NewReader(b), int64(len(b)))
			if c.open {
				if !errors.Is(err, ErrFormat) {
					t.Errorf("Open: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, err := im.EFIBootImage(); !errors.Is(err, ErrFormat) {
				t.Errorf("EFIBootImage: %v", err)
			}
		})
	}
}

func catalogOf(t *testing.T, b []byte) int {
	t.Helper()
	return int(binary.LittleEndian.Uint32(b[17*blockSize+71:])) * blockSize
}

// TestXorrisoImage reads the EFI boot image of an ISO made by xorriso the way
// distributions make hybrid ISOs: a BIOS default entry (platform 0) and the EFI image in
// a section (platform 0xEF).
func TestXorrisoImage(t *testing.T) {
	oracle.Require(t, "xorriso", "xorriso")
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	for name, data := range map[string][]byte{"efi.img": espImage(t, 4<<20), "bios.img": bytes.Repeat([]byte{0x90}, 2048)} {
		if err := os.MkdirAll(root, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, "x.iso")
	run(t, "xorriso", "-as", "mkisofs", "-o", out, "-b", "bios.img", "-no-emul-boot", "-boot-load-size", "4",
		"-eltorito-alt-boot", "-e", "efi.img", "-no-emul-boot", root)
	data, _ := bootImageOf(t, readFile(t, out))
	if string(data) != "not a PE file\n" {
		t.Errorf("BOOTX64.EFI = %q", data)
	}
}

// FuzzOpen: Open and EFIBootImage never panic, and a boot image lies inside the input.
func FuzzOpen(f *testing.F) {
	var buf bytes.Buffer
	files := []File{{Path: "/efi.img", Data: espImage(f, 256<<10)}}
	if err := Write(&buf, Options{VolumeID: "K", ModTime: testTime, EFIBootImage: "/efi.img"}, files); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes()[16*blockSize : min(buf.Len(), 32*blockSize)])
	f.Fuzz(func(t *testing.T, b []byte) {
		img := append(make([]byte, 16*blockSize), b...)
		im, err := Open(bytes.NewReader(img), int64(len(img)))
		if err != nil {
			return
		}
		sr, err := im.EFIBootImage()
		if err != nil {
			return
		}
		if _, off, n := sr.Outer(); off < 0 || off+n > int64(len(img)) {
			t.Errorf("boot image [%d, +%d) outside %d bytes", off, n, len(img))
		}
	})
}
