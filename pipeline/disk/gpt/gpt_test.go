package gpt

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

func TestGUID(t *testing.T) {
	const s = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
	if got := EFISystem.Upper(); got != s {
		t.Errorf("Upper() = %s, want %s", got, s)
	}
	g := DeriveGUID(testSeed, "disk")
	if g[6]>>4 != 4 || g[8]>>6 != 2 {
		t.Errorf("DeriveGUID %v is not version 4, RFC 4122 variant", g)
	}
	if g == DeriveGUID([]byte("other"), "disk") || g == DeriveGUID(testSeed, "partition/1") {
		t.Error("DeriveGUID ignores its inputs")
	}
}

func TestPlanErrors(t *testing.T) {
	ok := kilnLayout(8<<20, 4<<20, nil, nil)
	withPart := func(p Partition) Layout {
		l := kilnLayout(8<<20, 4<<20, nil, nil)
		l.Partitions[1] = p
		return l
	}
	for _, tc := range []struct {
		name   string
		layout Layout
		size   int64
		seed   []byte
		want   error
	}{
		{"4K sectors", Layout{SectorSize: 4096, Partitions: ok.Partitions}, 24 << 20, testSeed, ErrLayout},
		{"odd disk size", ok, 24<<20 + 1, testSeed, ErrLayout},
		{"no seed", ok, 24 << 20, nil, ErrLayout},
		{"no type", withPart(Partition{Name: "X", Size: 1 << 20}), 24 << 20, testSeed, ErrLayout},
		{"long name", withPart(Partition{Name: "0123456789012345678901234567890123456", Type: LinuxFilesystem, Size: 1 << 20}), 24 << 20, testSeed, ErrLayout},
		{"odd size", withPart(Partition{Name: "X", Type: LinuxFilesystem, Size: 1000}), 24 << 20, testSeed, ErrLayout},
		{"rest not last", withPart(Partition{Name: "X", Type: LinuxFilesystem}), 24 << 20, testSeed, ErrLayout},
		{"too big", ok, 12 << 20, testSeed, ErrNoSpace},
		{"no room for the rest", ok, 14 << 20, testSeed, ErrNoSpace},
	} {
		if _, err := tc.layout.Plan(tc.size, tc.seed); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestContentTooLarge(t *testing.T) {
	l := kilnLayout(1<<20, 1<<20, bytes.NewReader(make([]byte, 1<<20+1)), nil)
	if _, err := l.WriteFile(filepath.Join(t.TempDir(), "d.img"), 8<<20, testSeed); !errors.Is(err, ErrContent) {
		t.Errorf("got %v, want ErrContent", err)
	}
}

// TestReproducible writes the disk twice, into different directories, and
// compares the bytes; a different seed must change only the GUIDs.
func TestReproducible(t *testing.T) {
	a, ta := writeKilnDisk(t)
	b, tb := writeKilnDisk(t)
	if !bytes.Equal(readFile(t, a), readFile(t, b)) {
		t.Error("two writes differ")
	}
	if ta.DiskGUID != tb.DiskGUID {
		t.Error("disk GUIDs differ")
	}
	other, err := kilnLayout(8<<20, 4<<20, nil, nil).Plan(24<<20, []byte("kiln-test 0.1.1"))
	if err != nil {
		t.Fatal(err)
	}
	if other.DiskGUID == ta.DiskGUID || other.Partitions[0].GUID == ta.Partitions[0].GUID {
		t.Error("another seed gave the same GUIDs")
	}
}

// TestGolden compares the tables of a small disk (see testdata/README.md).
func TestGolden(t *testing.T) {
	img := filepath.Join(t.TempDir(), "disk.img")
	if _, err := kilnLayout(1<<20, 1<<20, nil, nil).WriteFile(img, 5<<20, []byte("golden")); err != nil {
		t.Fatal(err)
	}
	disk := readFile(t, img)
	got := append(disk[:34*sectorSize:34*sectorSize], disk[len(disk)-33*sectorSize:]...)
	golden := filepath.Join("testdata", "tables.bin")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -run TestGolden -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("tables differ from %s; if the change is intended and the oracle tests pass, rerun with -update", golden)
	}
	if !bytes.Equal(disk[34*sectorSize:len(disk)-33*sectorSize], make([]byte, len(disk)-67*sectorSize)) {
		t.Error("space between the tables is not zero")
	}
}

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestWriteTable: Plan then WriteTable on a zeroed target gives Write's bytes, and
// WriteTable writes nothing but the 34 + 33 table sectors.
func TestWriteTable(t *testing.T) {
	l := kilnLayout(1<<20, 1<<20, nil, nil)
	want := filepath.Join(t.TempDir(), "write.img")
	if _, err := l.WriteFile(want, 5<<20, []byte("golden")); err != nil {
		t.Fatal(err)
	}
	table, err := l.Plan(5<<20, []byte("golden"))
	if err != nil {
		t.Fatal(err)
	}
	disk := make(sliceTarget, 5<<20)
	if err := l.WriteTable(disk, table); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(disk, readFile(t, want)) {
		t.Error("Plan + WriteTable differs from Write")
	}
	short := Layout{Partitions: l.Partitions[:1]}
	if err := short.WriteTable(disk, table); !errors.Is(err, ErrLayout) {
		t.Errorf("a table of another layout: got %v, want ErrLayout", err)
	}
}

type sliceTarget []byte

func (s sliceTarget) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > int64(len(s)) {
		return 0, io.ErrShortWrite
	}
	return copy(s[off:], p), nil
}
