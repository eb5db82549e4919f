package squashfs

// Oracle tests: unsquashfs (squashfs-tools) reads the images back.

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-os/kiln/internal/oracle"
)

type oracleCase struct {
	name    string
	opts    Options
	entries []entry
}

func oracleCases() []oracleCase {
	return []oracleCase{
		{"zstd", Options{ModTime: testTime}, richEntries()},
		{"gzip-4k-fragments", Options{ModTime: testTime, Compression: GZIP, BlockSize: 4096}, fragmentEntries()},
		{"empty", Options{ModTime: testTime}, nil},
	}
}

func requireUnsquashfs(t *testing.T) {
	t.Helper()
	oracle.Require(t, "unsquashfs", "squashfs-tools")
}

func writeTemp(t *testing.T, img []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "image.sqsh")
	if err := os.WriteFile(p, img, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func unsquashfs(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command("unsquashfs", args...)
	cmd.Env = append(os.Environ(), "TZ=UTC")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("unsquashfs %v: %v\nstderr:\n%s", args, err, stderr.String())
	}
	return string(out)
}

// TestUnsquashfsList checks every entry's type, mode, owner, mtime, size
// and symlink target as `unsquashfs -lls` prints them.
func TestUnsquashfsList(t *testing.T) {
	requireUnsquashfs(t)
	for _, tc := range oracleCases() {
		t.Run(tc.name, func(t *testing.T) {
			img := writeTemp(t, buildImage(t, tc.opts, tc.entries))
			got := parseListing(t, unsquashfs(t, "-lls", img))
			want := withImplicitDirs(tc.entries)
			if len(got) != len(want) {
				t.Errorf("unsquashfs lists %d entries, want %d", len(got), len(want))
			}
			for p, e := range want {
				checkListed(t, p, e, got[p])
			}
		})
	}
}

// listed is one line of `unsquashfs -lls`.
type listed struct{ mode, owner, size, date, target string }

func parseListing(t *testing.T, out string) map[string]listed {
	got := map[string]listed{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || !strings.HasPrefix(f[5], "squashfs-root") {
			continue
		}
		name := strings.TrimPrefix(strings.TrimPrefix(f[5], "squashfs-root"), "/")
		if name == "" {
			name = "."
		}
		l := listed{mode: f[0], owner: f[1], size: f[2], date: f[3] + " " + f[4]}
		if len(f) == 8 && f[6] == "->" {
			l.target = f[7]
		}
		got[name] = l
	}
	if len(got) == 0 {
		t.Fatalf("no entries in unsquashfs output:\n%s", out)
	}
	return got
}

func checkListed(t *testing.T, p string, e entry, got listed) {
	t.Helper()
	want := listed{mode: lsMode(e), owner: "root/root", date: "2024-01-02 03:04", target: e.target}
	got.size = "" // directory sizes are the listing's; file sizes are checked on extraction
	if got != want {
		t.Errorf("%s: listed as %+v, want %+v", p, got, want)
	}
}

// lsMode formats a mode the way ls and unsquashfs do, e.g. "drwxrwxrwt".
func lsMode(e entry) string {
	b := []byte("-rwxrwxrwx")
	b[0] = map[kind]byte{kindDir: 'd', kindFile: '-', kindSymlink: 'l'}[e.kind]
	for i := range 9 {
		if e.mode&(1<<(8-i)) == 0 {
			b[i+1] = '-'
		}
	}
	special := func(bit fs.FileMode, at int, set byte) {
		if e.mode&bit == 0 {
			return
		}
		if b[at] == 'x' {
			b[at] = set
		} else {
			b[at] = set - 'a' + 'A'
		}
	}
	special(fs.ModeSetuid, 3, 's')
	special(fs.ModeSetgid, 6, 's')
	special(fs.ModeSticky, 9, 't')
	return string(b)
}

// TestUnsquashfsExtract extracts the images and compares the tree:
// types, modes, mtimes, file contents and symlink targets.
func TestUnsquashfsExtract(t *testing.T) {
	requireUnsquashfs(t)
	for _, tc := range oracleCases() {
		t.Run(tc.name, func(t *testing.T) {
			img := writeTemp(t, buildImage(t, tc.opts, tc.entries))
			dir := filepath.Join(t.TempDir(), "root")
			unsquashfs(t, "-no-progress", "-quiet", "-d", dir, img)
			want := withImplicitDirs(tc.entries)
			seen := 0
			err := filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				rel, _ := filepath.Rel(dir, p)
				e, ok := want[filepath.ToSlash(rel)]
				if !ok {
					t.Errorf("extracted %s, which was never added", rel)
					return nil
				}
				seen++
				checkExtracted(t, p, e)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if seen != len(want) {
				t.Errorf("extracted %d entries, want %d", seen, len(want))
			}
		})
	}
}

func checkExtracted(t *testing.T, p string, e entry) {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Error(err)
		return
	}
	wantType := map[kind]fs.FileMode{kindDir: fs.ModeDir, kindSymlink: fs.ModeSymlink}[e.kind]
	if wantMode := wantType | e.mode; fi.Mode() != wantMode {
		t.Errorf("%s: mode %v, want %v", e.path, fi.Mode(), wantMode)
	}
	if !fi.ModTime().Equal(testTime) {
		t.Errorf("%s: mtime %v, want %v", e.path, fi.ModTime(), testTime)
	}
	switch e.kind {
	case kindFile:
		if got, err := os.ReadFile(p); err != nil || !bytes.Equal(got, e.data) {
			t.Errorf("%s: content differs (%d bytes read, %d written, err %v)", e.path, len(got), len(e.data), err)
		}
	case kindSymlink:
		if got, err := os.Readlink(p); err != nil || got != e.target {
			t.Errorf("%s: target %q, want %q (err %v)", e.path, got, e.target, err)
		}
	}
}
