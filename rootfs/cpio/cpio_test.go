package cpio

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

var testTime = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

// initramfsEntries is a small initramfs, deliberately out of order.
func initramfsEntries() []Entry {
	rng := rand.New(rand.NewPCG(1, 2))
	init := make([]byte, 100_003)
	for i := range init {
		init[i] = byte(rng.Uint32())
	}
	return []Entry{
		{Path: "usr/bin/su", Mode: 0o755 | fs.ModeSetuid, Data: []byte("#!/bin/false\n")},
		{Path: "dev/console", Mode: 0o600 | charDevice, Major: 5, Minor: 1},
		{Path: "init", Mode: 0o755, Data: init},
		{Path: "/etc", Mode: fs.ModeDir | 0o755},
		{Path: "dev/null", Mode: 0o666 | charDevice, Major: 1, Minor: 3},
		{Path: "etc/hostname", Mode: 0o644, Data: []byte("kiln\n")},
		{Path: "usr", Mode: fs.ModeDir | 0o755},
		{Path: "bin", Mode: fs.ModeSymlink, Target: "usr/bin"},
		{Path: "dev", Mode: fs.ModeDir | 0o755},
		{Path: "tmp", Mode: fs.ModeDir | 0o777 | fs.ModeSticky},
		{Path: "usr/bin", Mode: fs.ModeDir | 0o755 | fs.ModeSetgid},
		{Path: "empty", Mode: 0o600},
		{Path: "usr-local", Mode: fs.ModeDir | 0o700},
	}
}

func buildArchive(t *testing.T, entries []Entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := NewWriter(&buf, Options{ModTime: testTime})
	for _, e := range entries {
		if err := w.Add(e); err != nil {
			t.Fatalf("Add %s: %v", e.Path, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return buf.Bytes()
}

func sortedEntries() []Entry {
	entries := initramfsEntries()
	Sort(entries)
	return entries
}

func TestSort(t *testing.T) {
	var got []string
	for _, e := range sortedEntries() {
		got = append(got, e.Path)
	}
	want := []string{"bin", "dev", "dev/console", "dev/null", "empty", "/etc", "etc/hostname",
		"init", "tmp", "usr", "usr/bin", "usr/bin/su", "usr-local"}
	if !slices.Equal(got, want) {
		t.Errorf("Sort: %q\nwant %q", got, want)
	}
}

// header is a decoded newc header, for checking the Writer's output.
type header struct {
	name                                            string
	ino, mode, uid, gid, nlink, mtime               uint32
	devMajor, devMinor, rdevMajor, rdevMinor, check uint32
	data                                            string
}

// parseArchive decodes a newc archive, requiring 4-byte alignment of every
// header and data start, and stops after the trailer.
func parseArchive(t *testing.T, b []byte) []header {
	t.Helper()
	var out []header
	for off := 0; ; {
		if off%4 != 0 || len(b) < off+headerSize || string(b[off:off+6]) != magic {
			t.Fatalf("no aligned newc header at %d", off)
		}
		var f [13]uint32
		for i := range f {
			v, err := strconv.ParseUint(string(b[off+6+8*i:off+14+8*i]), 16, 32)
			if err != nil {
				t.Fatalf("header at %d, field %d: %v", off, i, err)
			}
			f[i] = uint32(v)
		}
		nameEnd := off + headerSize + int(f[11])
		h := header{name: string(b[off+headerSize : nameEnd-1]), ino: f[0], mode: f[1], uid: f[2], gid: f[3],
			nlink: f[4], mtime: f[5], devMajor: f[7], devMinor: f[8], rdevMajor: f[9], rdevMinor: f[10], check: f[12]}
		if b[nameEnd-1] != 0 {
			t.Fatalf("%s: name not NUL-terminated", h.name)
		}
		dataAt := nameEnd + len(pad(nameEnd))
		h.data = string(b[dataAt : dataAt+int(f[6])])
		out = append(out, h)
		off = dataAt + int(f[6]) + len(pad(int(f[6])))
		if h.name == trailerName {
			if off != len(b) {
				t.Errorf("%d bytes after the trailer", len(b)-off)
			}
			return out
		}
	}
}

func TestHeaders(t *testing.T) {
	entries := sortedEntries()
	got := parseArchive(t, buildArchive(t, entries))
	if len(got) != len(entries)+1 {
		t.Fatalf("%d records, want %d and the trailer", len(got), len(entries))
	}
	for i, e := range entries {
		want := header{
			name: strings.TrimPrefix(e.Path, "/"), ino: uint32(i + 1), mode: unixMode(e), nlink: 1,
			mtime: uint32(testTime.Unix()), rdevMajor: e.Major, rdevMinor: e.Minor, data: string(e.Data),
		}
		if e.Mode.IsDir() {
			want.nlink = 2
		}
		if e.Mode.Type() == fs.ModeSymlink {
			want.data = e.Target
		}
		checkHeader(t, got[i], want)
	}
	checkHeader(t, got[len(entries)], header{name: trailerName, nlink: 1})
}

func checkHeader(t *testing.T, got, want header) {
	t.Helper()
	if got.data != want.data {
		t.Errorf("%s: data differs (%d bytes, want %d)", want.name, len(got.data), len(want.data))
	}
	got.data, want.data = "", ""
	if got != want {
		t.Errorf("header\n got %+v\nwant %+v", got, want)
	}
}

// unixMode is the header mode an entry should get, spelled out by hand.
func unixMode(e Entry) uint32 {
	m := uint32(e.Mode.Perm())
	for bit, unix := range map[fs.FileMode]uint32{fs.ModeSetuid: 0o4000, fs.ModeSetgid: 0o2000, fs.ModeSticky: 0o1000} {
		if e.Mode&bit != 0 {
			m |= unix
		}
	}
	switch e.Mode.Type() {
	case fs.ModeDir:
		return m | 0o040000
	case fs.ModeSymlink:
		return 0o120777
	case charDevice:
		return m | 0o020000
	}
	return m | 0o100000
}

func TestErrors(t *testing.T) {
	file := func(p string) Entry { return Entry{Path: p, Mode: 0o644} }
	dir := func(p string) Entry { return Entry{Path: p, Mode: fs.ModeDir | 0o755} }
	cases := []struct {
		name  string
		setup []Entry
		add   Entry
		want  error
	}{
		{"no parent", nil, file("etc/passwd"), ErrNoParent},
		{"parent is file", []Entry{file("etc")}, file("etc/passwd"), ErrNotDir},
		{"duplicate", []Entry{dir("etc")}, file("/etc"), ErrExist},
		{"root", nil, dir("/"), ErrPath},
		{"dot", nil, dir("."), ErrPath},
		{"dotdot", []Entry{dir("a")}, file("a/../b"), ErrPath},
		{"empty element", []Entry{dir("a")}, file("a//b"), ErrPath},
		{"NUL", nil, file("a\x00"), ErrPath},
		{"unix sticky bit", nil, dir("tmp").withMode(fs.ModeDir | 0o1777), ErrMode},
		{"fifo", nil, file("fifo").withMode(fs.ModeNamedPipe | 0o644), ErrMode},
		{"block device", nil, file("sda").withMode(fs.ModeDevice | 0o600), ErrMode},
		{"empty target", nil, Entry{Path: "l", Mode: fs.ModeSymlink}, ErrTarget},
	}
	for _, tc := range cases {
		w := NewWriter(io.Discard, Options{ModTime: testTime})
		for _, e := range tc.setup {
			if err := w.Add(e); err != nil {
				t.Fatalf("%s: setup %s: %v", tc.name, e.Path, err)
			}
		}
		err := w.Add(tc.add)
		var pathErr *fs.PathError
		if !errors.Is(err, tc.want) || !errors.As(err, &pathErr) || pathErr.Path != tc.add.Path {
			t.Errorf("%s: error %v, want %v for path %q", tc.name, err, tc.want, tc.add.Path)
		}
		if err2 := w.Close(); err2 != err {
			t.Errorf("%s: Close returned %v, want the sticky error", tc.name, err2)
		}
	}
}

func (e Entry) withMode(m fs.FileMode) Entry { e.Mode = m; return e }

func TestOptionsAndClose(t *testing.T) {
	w := NewWriter(io.Discard, Options{})
	if err := w.AddDir("etc", 0o755); !errors.Is(err, ErrOptions) {
		t.Errorf("no ModTime: %v, want ErrOptions", err)
	}
	w = NewWriter(io.Discard, Options{ModTime: testTime})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := w.AddDir("etc", 0o755); !errors.Is(err, ErrClosed) {
		t.Errorf("AddDir after Close: %v, want ErrClosed", err)
	}
}

func TestReproducible(t *testing.T) {
	first := buildArchive(t, sortedEntries())
	shuffled := initramfsEntries()
	rand.New(rand.NewPCG(3, 4)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	Sort(shuffled)
	if !bytes.Equal(buildArchive(t, shuffled), first) {
		t.Error("archive of a shuffled, then sorted, entry set differs")
	}
}

func TestGolden(t *testing.T) {
	golden := filepath.Join("testdata", "tiny.cpio")
	got := buildArchive(t, []Entry{
		{Path: "dev", Mode: fs.ModeDir | 0o755},
		{Path: "dev/console", Mode: charDevice | 0o600, Major: 5, Minor: 1},
		{Path: "init", Mode: 0o755, Data: []byte("#!/bin/sh\n")},
		{Path: "sbin", Mode: fs.ModeSymlink, Target: "bin"},
	})
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
		t.Errorf("archive differs from %s; if the change is intended and the oracle tests pass, rerun with -update", golden)
	}
}
