package iso

import (
	"bytes"
	"compress/gzip"
	"errors"
	"flag"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

func TestErrors(t *testing.T) {
	file := func(p string) File { return File{Path: p, Data: []byte("x")} }
	for _, tc := range []struct {
		name  string
		opts  Options
		files []File
		want  error
	}{
		{"volume ID", Options{VolumeID: "kiln-0.1"}, nil, ErrOptions},
		{"hybrid without boot image", Options{HybridMBR: true}, nil, ErrOptions},
		{"duplicate after upper-casing", Options{}, []File{file("a.txt"), file("A.TXT")}, ErrExist},
		{"file and directory", Options{}, []File{file("a"), file("a/b")}, ErrNotDir},
		{"hyphen", Options{}, []File{file("kiln-0.efi")}, ErrPath},
		{"two periods", Options{}, []File{file("a.b.c")}, ErrPath},
		{"long name", Options{}, []File{file(strings.Repeat("A", 28) + ".TXT")}, ErrPath},
		{"period in directory", Options{}, []File{file("a.d/b")}, ErrPath},
		{"empty component", Options{}, []File{file("a//b")}, ErrPath},
		{"too deep", Options{}, []File{file("a/b/c/d/e/f/g/h/i")}, ErrPath},
		{"missing boot image", Options{EFIBootImage: "efi.img"}, []File{file("x")}, ErrBoot},
		{"empty boot image", Options{EFIBootImage: "efi.img"}, []File{{Path: "efi.img"}}, ErrBoot},
		{"directory as boot image", Options{EFIBootImage: "a"}, []File{file("a/b")}, ErrBoot},
	} {
		if err := Write(io.Discard, tc.opts, tc.files); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestBootSectorCount(t *testing.T) {
	for size, want := range map[uint32]uint16{2048: 4, 1000: 2, 0xFFFF * 512: 0xFFFF, 0xFFFF*512 + 1: 0, 64 << 20: 0} {
		im := &image{boot: &node{size: size}}
		if got := im.bootSectorCount(); got != want {
			t.Errorf("%d bytes: sector count %d, want %d", size, got, want)
		}
	}
}

// TestReproducible writes the same files in three orders.
func TestReproducible(t *testing.T) {
	files := isoFiles(t)
	first := readFile(t, writeISO(t, testOpts, files))
	reversed := slices.Clone(files)
	slices.Reverse(reversed)
	shuffled := slices.Clone(files)
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(shuffled), func(i, j int) {
		shuffled[i], shuffled[j] = shuffled[j], shuffled[i]
	})
	for name, order := range map[string][]File{"reversed": reversed, "shuffled": shuffled} {
		if got := readFile(t, writeISO(t, testOpts, order)); !bytes.Equal(got, first) {
			t.Errorf("%s order: image differs", name)
		}
	}
}

// tinyFiles is the golden image's content; see testdata/README.md.
func tinyFiles(t *testing.T) []File {
	return []File{
		{Path: "efi.img", Data: espImage(t, 64<<10)},
		{Path: "kiln/manifest.json", Data: []byte("{}\n")},
	}
}

func TestGolden(t *testing.T) {
	golden := filepath.Join("testdata", "tiny.iso.gz")
	var got bytes.Buffer
	if err := Write(&got, Options{VolumeID: "KILN_GOLDEN", ModTime: testTime, EFIBootImage: "efi.img"}, tinyFiles(t)); err != nil {
		t.Fatal(err)
	}
	if *update {
		var z bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&z, gzip.BestCompression)
		zw.Write(got.Bytes())
		zw.Close()
		if err := os.WriteFile(golden, z.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.Open(golden)
	if err != nil {
		t.Fatalf("%v (run go test -run TestGolden -update to create it)", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	want, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Errorf("image differs from %s; if the change is intended and the oracle tests pass, rerun with -update", golden)
	}
}
