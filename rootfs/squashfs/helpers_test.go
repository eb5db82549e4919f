package squashfs

import (
	"bytes"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"path"
	"testing"
	"time"
)

var testTime = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

// entry is one thing to add to a test image.
type entry struct {
	path   string
	kind   kind
	mode   fs.FileMode // permission and special bits
	data   []byte
	target string
}

func dirEntry(p string, mode fs.FileMode) entry { return entry{path: p, kind: kindDir, mode: mode} }
func fileEntry(p string, mode fs.FileMode, data []byte) entry {
	return entry{path: p, kind: kindFile, mode: mode, data: data}
}
func linkEntry(p, target string) entry {
	return entry{path: p, kind: kindSymlink, mode: 0o777, target: target}
}

func (e entry) addTo(w *Writer) error {
	switch e.kind {
	case kindDir:
		return w.AddDir(e.path, e.mode)
	case kindFile:
		return w.AddFile(e.path, e.mode, bytes.NewReader(e.data))
	}
	return w.AddSymlink(e.path, e.target)
}

// buildImage writes entries, in the order given, to a new image.
func buildImage(t *testing.T, opts Options, entries []entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := NewWriter(&buf, opts)
	for _, e := range entries {
		if err := e.addTo(w); err != nil {
			t.Fatalf("add %s: %v", e.path, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return buf.Bytes()
}

// withImplicitDirs returns entries keyed by path, plus the parent
// directories the Writer creates with mode 0755, and the root.
func withImplicitDirs(entries []entry) map[string]entry {
	all := map[string]entry{".": dirEntry(".", 0o755)}
	for _, e := range entries {
		all[e.path] = e
	}
	for _, e := range entries {
		for dir := path.Dir(e.path); dir != "."; dir = path.Dir(dir) {
			if _, ok := all[dir]; !ok {
				all[dir] = dirEntry(dir, 0o755)
			}
		}
	}
	return all
}

func randomBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// richEntries covers what a root file system needs: nested and implicit
// directories, a directory of 300+ entries, one whose listing needs the
// extended inode, files of every size class and special modes.
func richEntries() []entry {
	rng := rand.New(rand.NewPCG(1, 2))
	big := append(randomBytes(rng, 1<<20), make([]byte, 2<<20)...)
	big = append(big, randomBytes(rng, 777)...)
	entries := []entry{
		dirEntry("etc", 0o755),
		dirEntry("etc/ssl/private", 0o700),
		dirEntry("tmp", 0o777|fs.ModeSticky),
		dirEntry("srv", 0o775|fs.ModeSetgid),
		dirEntry("empty-dir", 0o555),
		fileEntry("etc/hostname", 0o644, []byte("kiln\n")),
		fileEntry("etc/ssl/private/key", 0o600, randomBytes(rng, 1500)),
		fileEntry("empty", 0o644, nil),
		fileEntry("one-block", 0o644, randomBytes(rng, DefaultBlockSize)),
		fileEntry("zeros-one-block", 0o644, make([]byte, DefaultBlockSize)),
		fileEntry("big", 0o755, big),
		fileEntry("usr/bin/su", 0o755|fs.ModeSetuid, []byte("#!/bin/false\n")),
		fileEntry("a/b/c/d/e/deep", 0o640, []byte("deep\n")),
		linkEntry("bin", "usr/bin"),
		linkEntry("etc/mtab", "/proc/self/mounts"),
		linkEntry("a/loop", "../a"),
	}
	for i := range 320 {
		name := fmt.Sprintf("many/f%03d", i)
		switch i % 40 {
		case 7:
			entries = append(entries, linkEntry(name, "f000"))
		case 9:
			entries = append(entries, dirEntry(name, 0o750))
		default:
			entries = append(entries, fileEntry(name, 0o644, []byte(name+"\n")))
		}
	}
	for i := range 2500 {
		name := fmt.Sprintf("wide/a-rather-long-file-name-to-fill-the-listing-%05d", i)
		entries = append(entries, fileEntry(name, 0o644, nil))
	}
	return entries
}

// fragmentEntries makes a GZIP image with 4 KiB blocks in which every tail
// fills its own fragment block: more fragments than one metadata block of
// the fragment table holds.
func fragmentEntries() []entry {
	rng := rand.New(rand.NewPCG(3, 4))
	entries := []entry{fileEntry("multi", 0o644, randomBytes(rng, 5*4096+100))}
	for i := range 600 {
		entries = append(entries, fileEntry(fmt.Sprintf("frag/%03d", i), 0o644, randomBytes(rng, 2100+i)))
	}
	return entries
}
