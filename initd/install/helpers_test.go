package install

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kiln-os/kiln/pipeline/disk/fat"
)

const testDiskSize = 3 << 30

var testEpoch = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

// fakePayload is a payload of recognisable bytes; systemd-boot's passes
// bootloader.IsSystemdBoot.
func fakePayload() []fat.File {
	var files []fat.File
	for _, p := range PayloadPaths {
		data := []byte("payload " + p + "\n")
		if strings.HasSuffix(p, ".EFI") || strings.HasSuffix(p, ".efi") {
			data = []byte("MZ...#### LoaderInfo: systemd-boot 252.39-1~deb12u2 ####...")
		}
		files = append(files, fat.File{Path: p, Data: data})
	}
	return files
}

func fakeUKI() []byte { return bytes.Repeat([]byte("MZ fake uki "), 100000) }

// payloadDir writes a payload directory holding files.
func payloadDir(t testing.TB, files []fat.File) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, f.Data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func testOptions(t testing.TB) Options {
	return Options{UKI: fakeUKI(), UKIName: "kiln-0.1.0+3.efi", PayloadDir: payloadDir(t, fakePayload()), ModTime: testEpoch}
}

// newDisk makes a sparse file of size bytes.
func newDisk(t *testing.T, size int64) *os.File {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "disk.img"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	return f
}

func writeAt(t *testing.T, f io.WriterAt, off int64, data string) {
	t.Helper()
	if _, err := f.WriteAt([]byte(data), off); err != nil {
		t.Fatal(err)
	}
}

// hashFile hashes the file's data extents with their offsets (SEEK_DATA/SEEK_HOLE), and
// its size: the same hash is the same bytes, and a write of zeros into a hole counts
// as a change, which is stricter than byte equality.
func hashFile(t *testing.T, path string) [32]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	fmt.Fprintf(h, "size %d\n", fi.Size())
	for off := int64(0); off < fi.Size(); {
		data, err := f.Seek(off, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		hole, err := f.Seek(data, unix.SEEK_HOLE)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(h, "data %d %d\n", data, hole-data)
		if _, err := io.Copy(h, io.NewSectionReader(f, data, hole-data)); err != nil {
			t.Fatal(err)
		}
		off = hole
	}
	return [32]byte(h.Sum(nil))
}

func run(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C", "MTOOLS_SKIP_CHECK=1")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// cutDevice fails the Sync after n successful ones: a power cut after the (n+1)-th
// step's writes, before they are known durable. (A plain file keeps the writes; a real
// cut might lose some, which only leaves less on the disk.)
type cutDevice struct {
	*os.File
	syncs int
}

var errCut = errors.New("power cut")

func (d *cutDevice) Sync() error {
	if d.syncs == 0 {
		return errCut
	}
	d.syncs--
	return d.File.Sync()
}
