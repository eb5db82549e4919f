package fat

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestReadBack writes every oracle case's volume and the FAT32 type on a small volume,
// then reads every file back through Open/ReadFile and every directory through ReadDir.
func TestReadBack(t *testing.T) {
	cases := append(oracleCases(), oracleCase{"fat32-64MiB", Options{Size: 64 << 20, Type: FAT32, ModTime: testTime}, FAT32, ""})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			img := writeImage(t, c.opts, espFiles())
			f, err := os.Open(img)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			fsys, err := Open(f, c.opts.Size)
			if err != nil {
				t.Fatal(err)
			}
			if fsys.Type() != c.want {
				t.Errorf("type %v, want %v", fsys.Type(), c.want)
			}
			checkTree(t, fsys, espFiles())
		})
	}
}

// checkTree: every file reads back whole, with any case, and each directory lists
// exactly its children.
func checkTree(t *testing.T, fsys *FS, files []File) {
	t.Helper()
	dirs := map[string][]string{}
	for _, file := range files {
		p := strings.TrimPrefix(file.Path, "/")
		got, err := fsys.ReadFile(strings.ToUpper(p), 1<<30)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		if !bytes.Equal(got, file.Data) {
			t.Errorf("%s: %d bytes back, want %d", p, len(got), len(file.Data))
		}
		for dir, name := filepath.Split(p); ; dir, name = filepath.Split(strings.TrimSuffix(dir, "/")) {
			d := strings.TrimSuffix(dir, "/")
			if !slices.Contains(dirs[d], name) {
				dirs[d] = append(dirs[d], name)
			}
			if dir == "" {
				break
			}
		}
	}
	for dir, want := range dirs {
		entries, err := fsys.ReadDir(dir)
		if err != nil {
			t.Errorf("ReadDir %q: %v", dir, err)
			continue
		}
		var got []string
		for _, e := range entries {
			got = append(got, e.Name)
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("ReadDir %q = %q, want %q", dir, got, want)
		}
	}
}

func TestReadErrors(t *testing.T) {
	opts := Options{Size: 1 << 20, ModTime: testTime}
	img := make(memImage, opts.Size)
	if err := Write(img, opts, espFiles()); err != nil {
		t.Fatal(err)
	}
	fsys, err := Open(bytes.NewReader(img), opts.Size)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path string
		want error
	}{
		{"EFI/none.efi", ErrNotExist},
		{"EFI", ErrIsDir},
		{"loader/loader.conf/x", ErrNotDir},
		{"EFI/Linux/kiln-0.1.0+3.efi", ErrTooLarge},
	} {
		if _, err := fsys.ReadFile(c.path, 1000); !errors.Is(err, c.want) {
			t.Errorf("ReadFile %s: %v, want %v", c.path, err, c.want)
		}
	}
	if _, err := Open(bytes.NewReader(img), opts.Size-512); !errors.Is(err, ErrFormat) {
		t.Errorf("a volume larger than its device: %v", err)
	}
	bad := slices.Clone(img)
	bad[13] = 3 // sectors per cluster
	if _, err := Open(bytes.NewReader(bad), opts.Size); !errors.Is(err, ErrFormat) {
		t.Errorf("3 sectors per cluster: %v", err)
	}
}

// TestReadMkfsVolume reads a volume made by mkfs.fat and filled by mcopy: another
// writer's names (short names with NT case flags, its long names) and layout.
func TestReadMkfsVolume(t *testing.T) {
	requireTool(t, "mkfs.fat", "dosfstools")
	requireTool(t, "mcopy", "mtools")
	dir := t.TempDir()
	img := filepath.Join(dir, "mkfs.img")
	for _, fat := range []string{"12", "16", "32"} {
		t.Run("FAT"+fat, func(t *testing.T) {
			os.Remove(img)
			size := map[string]string{"12": "2048", "16": "32768", "32": "66000"}[fat] // KiB
			run(t, "mkfs.fat", "-C", "-F", fat, img, size)
			src := filepath.Join(dir, "src")
			os.RemoveAll(src)
			files := []File{
				{"EFI/Linux/kiln-0.1.0.efi", pattern("uki", 200000)},
				{"lower.txt", []byte("NT case flag\n")},
				{"A Long Name With Spaces.conf", []byte("lfn\n")},
			}
			for _, file := range files {
				p := filepath.Join(src, file.Path)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, file.Data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			run(t, "mcopy", "-s", "-i", img, filepath.Join(src, "EFI"), filepath.Join(src, "lower.txt"), filepath.Join(src, "A Long Name With Spaces.conf"), "::")
			b := readImage(t, img)
			fsys, err := Open(bytes.NewReader(b), int64(len(b)))
			if err != nil {
				t.Fatal(err)
			}
			checkTree(t, fsys, files)
		})
	}
}

// memImage is a volume in memory.
type memImage []byte

func (m memImage) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > int64(len(m)) {
		return 0, errors.New("write outside the image")
	}
	return copy(m[off:], p), nil
}

// FuzzOpen: on any bytes, Open and a walk of the whole tree never panic, never loop and
// never return more data than the volume holds. The input is the start of a volume of
// fuzzVolume bytes whose rest reads as zeros; the seeds are volumes of every type from
// Write, cut after their last non-zero byte.
func FuzzOpen(f *testing.F) {
	for _, o := range []Options{{Size: 256 << 10, Type: FAT12}, {Size: 4200 << 10, Type: FAT16}, {Size: 34 << 20, Type: FAT32}} {
		img := make(memImage, o.Size)
		files := []File{{"EFI/Linux/kiln-0.1.0.efi", pattern("uki", 3000)}, {"a long name.txt", []byte("x")}, {"EFI/BOOT/BOOTX64.EFI", []byte("MZ")}}
		if err := Write(img, o, files); err != nil {
			f.Fatal(err)
		}
		end := len(img)
		for end > 0 && img[end-1] == 0 {
			end--
		}
		f.Add([]byte(img[:end]))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r := zeroPadded(b)
		fsys, err := Open(r, fuzzVolume)
		if err != nil {
			return
		}
		walk(t, fsys, "", 0, fuzzVolume)
	})
}

const fuzzVolume = 40 << 20

// zeroPadded reads as its bytes, then zeros up to fuzzVolume.
type zeroPadded []byte

func (z zeroPadded) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > fuzzVolume {
		return 0, io.EOF
	}
	clear(p)
	if off < int64(len(z)) {
		copy(p, z[off:])
	}
	return len(p), nil
}

// walk reads the tree, at most 8 levels and 1000 entries deep: a malformed volume may
// make a directory its own child.
func walk(t *testing.T, fsys *FS, dir string, depth, size int) {
	budget := 1000
	var visit func(dir string, depth int)
	visit = func(dir string, depth int) {
		entries, err := fsys.ReadDir(dir)
		if err != nil || depth > 8 {
			return
		}
		for _, e := range entries {
			if budget--; budget < 0 {
				return
			}
			p := dir + "/" + e.Name
			if e.IsDir {
				visit(p, depth+1)
				continue
			}
			data, err := fsys.ReadFile(p, 1<<20)
			if err == nil && len(data) > size {
				t.Fatalf("%s: %d bytes from a %d-byte volume", p, len(data), size)
			}
		}
	}
	visit(dir, depth)
}
