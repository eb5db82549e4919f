package fat

import (
	"errors"
	"strings"
	"testing"
)

func TestShortNames(t *testing.T) {
	children := []*node{}
	for _, name := range []string{
		"BOOTX64.EFI", "loader", "systemd-bootx64.efi", "kiln-0.1.0+3.efi",
		"kiln-0.1.0+2-1.efi", "KILN-0~1.EFI", ".hidden.conf", "a.b.c", "café",
	} {
		children = append(children, &node{name: name})
	}
	if err := assignShortNames(children); err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		short string
		lfn   bool
	}{
		"BOOTX64.EFI":         {"BOOTX64.EFI", false},
		"loader":              {"LOADER", true},
		"systemd-bootx64.efi": {"SYSTEM~1.EFI", true},
		"KILN-0~1.EFI":        {"KILN-0~1.EFI", false}, // reserved before tails are given
		"kiln-0.1.0+3.efi":    {"KILN-0~2.EFI", true},
		"kiln-0.1.0+2-1.efi":  {"KILN-0~3.EFI", true},
		".hidden.conf":        {"HIDDEN~1.CON", true},
		"a.b.c":               {"AB~1.C", true},
		"café":                {"CAF_~1", true},
	}
	for _, c := range children {
		if w := want[c.name]; c.short.String() != w.short || c.lfn != w.lfn {
			t.Errorf("%q: short %q lfn %v, want %q %v", c.name, c.short, c.lfn, w.short, w.lfn)
		}
	}
}

func TestGeometry(t *testing.T) {
	for _, tc := range []struct {
		size int64
		typ  Type
		want Type
		spc  uint32
	}{
		{64 << 10, Auto, FAT12, 1},
		{2 << 20, Auto, FAT12, 1},
		{4 << 20, Auto, FAT16, 1},
		{4 << 20, FAT12, FAT12, 2},
		{16 << 20, Auto, FAT16, 1},
		{32 << 20, Auto, FAT16, 1},
		{33 << 20, Auto, FAT32, 1},
		{512 << 20, Auto, FAT32, 8},
		{512 << 20, FAT16, FAT16, 16},
		{2 << 30, Auto, FAT32, 8},
	} {
		g, err := chooseGeometry(tc.size, tc.typ)
		if err != nil || g.typ != tc.want || g.sectorsPerCluster != tc.spc {
			t.Errorf("%d bytes as %v: %v with %d sectors/cluster, %v; want %v with %d",
				tc.size, tc.typ, g.typ, g.sectorsPerCluster, err, tc.want, tc.spc)
			continue
		}
		if need := fatBytes(g.typ, uint64(g.clusters)+2); need > uint64(g.fatSectors)*sectorSize {
			t.Errorf("%d bytes: FAT of %d sectors is too small for %d clusters", tc.size, g.fatSectors, g.clusters)
		}
	}
}

func TestErrors(t *testing.T) {
	opts := Options{Size: 1 << 20, ModTime: testTime}
	file := func(p string) File { return File{Path: p, Data: []byte("x")} }
	many := make([]File, 600)
	for i := range many {
		many[i] = file(strings.Repeat("n", 20) + string(rune('a'+i%26)) + strings.Repeat("z", i/26))
	}
	for _, tc := range []struct {
		name  string
		opts  Options
		files []File
		want  error
	}{
		{"case-insensitive duplicate", opts, []File{file("EFI/a.efi"), file("efi/A.EFI")}, ErrExist},
		{"file as directory", opts, []File{file("a"), file("a/b")}, ErrNotDir},
		{"dot dot", opts, []File{file("a/../b")}, ErrPath},
		{"empty component", opts, []File{file("a//b")}, ErrPath},
		{"trailing period", opts, []File{file("a.")}, ErrPath},
		{"invalid character", opts, []File{file("a:b")}, ErrPath},
		{"full", opts, []File{{Path: "big", Data: make([]byte, 2<<20)}}, ErrNoSpace},
		{"root full", opts, many, ErrRootFull},
		{"lower-case label", Options{Size: 1 << 20, Label: "efi"}, nil, ErrOptions},
		{"odd size", Options{Size: 1000}, nil, ErrOptions},
		{"FAT32 too small", Options{Size: 1 << 20, Type: FAT32}, nil, ErrSize},
	} {
		if err := Write(discard{}, tc.opts, tc.files); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

type discard struct{}

func (discard) WriteAt(p []byte, _ int64) (int, error) { return len(p), nil }
