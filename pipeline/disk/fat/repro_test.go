package fat

import (
	"bytes"
	"compress/gzip"
	"flag"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

// TestReproducible writes the same files in three orders and expects the
// same bytes.
func TestReproducible(t *testing.T) {
	opts := Options{Size: 16 << 20, Label: "KILN", VolumeID: 7, ModTime: testTime}
	files := espFiles()
	first := readImage(t, writeImage(t, opts, files))

	reversed := slices.Clone(files)
	slices.Reverse(reversed)
	shuffled := slices.Clone(files)
	rand.New(rand.NewPCG(5, 6)).Shuffle(len(shuffled), func(i, j int) {
		shuffled[i], shuffled[j] = shuffled[j], shuffled[i]
	})
	for name, order := range map[string][]File{"reversed": reversed, "shuffled": shuffled} {
		if got := readImage(t, writeImage(t, opts, order)); !bytes.Equal(got, first) {
			t.Errorf("%s order: image differs", name)
		}
	}
}

// tinyFiles is the golden image's content; see testdata/README.md.
func tinyFiles() []File {
	return []File{
		{"EFI/BOOT/BOOTX64.EFI", []byte("not really a PE file\n")},
		{"EFI/Linux/kiln-0.1.0+3.efi", pattern("uki", 1500)},
		{"loader/loader.conf", []byte("timeout 0\n")},
		{"README", nil},
	}
}

func TestGolden(t *testing.T) {
	golden := filepath.Join("testdata", "tiny.img.gz")
	opts := Options{Size: 128 << 10, Label: "KILN", VolumeID: 0x4B494C4E, ModTime: testTime}
	got := readImage(t, writeImage(t, opts, tinyFiles()))
	if *update {
		writeGzip(t, golden, got)
	}
	want := readGzip(t, golden)
	if !bytes.Equal(got, want) {
		t.Errorf("image differs from %s; if the change is intended and the oracle tests pass, rerun with -update", golden)
	}
}

func writeGzip(t *testing.T, path string, data []byte) {
	t.Helper()
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zw.Write(data)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readGzip(t *testing.T, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("%v (run go test -run TestGolden -update to create it)", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
