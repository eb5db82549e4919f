package iso

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kiln-os/kiln/pipeline/disk/fat"
)

var testTime = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

// memDisk is an io.WriterAt over a zeroed slice, for fat.Write.
type memDisk []byte

func (m memDisk) WriteAt(p []byte, off int64) (int, error) { return copy(m[off:], p), nil }

// espImage is a FAT volume of size bytes holding a fake BOOTX64.EFI.
func espImage(t testing.TB, size int64) []byte {
	t.Helper()
	img := make(memDisk, size)
	err := fat.Write(img, fat.Options{Size: size, Label: "KILN", VolumeID: 0x4B494C4E, ModTime: testTime},
		[]fat.File{{Path: "EFI/BOOT/BOOTX64.EFI", Data: []byte("not a PE file\n")}})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// isoFiles is a live ISO's tree: the ESP image, a manifest, nested
// directories, an empty file and a file without an extension.
func isoFiles(t *testing.T) []File {
	return []File{
		{Path: "/efi.img", Data: espImage(t, 8<<20)},
		{Path: "/kiln/manifest.json", Data: []byte(`{"name":"kiln","version":"0.1.0"}` + "\n")},
		{Path: "/kiln/PXE/vmlinuz", Data: make([]byte, 5000)},
		{Path: "/kiln/pxe/initrd_zst", Data: []byte("initrd")},
		{Path: "/kiln/empty.txt", Data: nil},
		{Path: "/README", Data: []byte("Kiln live ISO\n")},
		{Path: "/a/b/c/d/e/f/g/deepest.txt", Data: []byte("level 8\n")},
	}
}

var testOpts = Options{VolumeID: "KILN_0_1_0", ModTime: testTime, EFIBootImage: "/efi.img"}

func writeISO(t *testing.T, opts Options, files []File) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "kiln.iso")
	if err := WriteFile(p, opts, files); err != nil {
		t.Fatal(err)
	}
	return p
}

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
