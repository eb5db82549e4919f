package cpio

// Oracle tests: GNU cpio reads the archives back.

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/kiln-os/kiln/internal/oracle"
)

func requireCpio(t *testing.T) {
	t.Helper()
	oracle.Require(t, "cpio", "cpio")
}

// gnuCpio runs cpio with archive on standard input and returns its output.
func gnuCpio(t *testing.T, archive []byte, args ...string) []byte {
	t.Helper()
	cmd := exec.Command("cpio", append([]string{"--quiet"}, args...)...)
	cmd.Env = append(os.Environ(), "TZ=UTC", "LC_ALL=C")
	cmd.Stdin = bytes.NewReader(archive)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("cpio %v: %v\nstderr:\n%s", args, err, stderr.String())
	}
	return out
}

func TestCpioList(t *testing.T) {
	requireCpio(t)
	entries := sortedEntries()
	out := gnuCpio(t, buildArchive(t, entries), "-t")
	var want []string
	for _, e := range entries {
		want = append(want, strings.TrimPrefix(e.Path, "/"))
	}
	if got := strings.Fields(string(out)); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("cpio -t lists\n%q\nwant\n%q", got, want)
	}
}

// TestCpioVerbose checks type, mode, link count, owner, size or device
// number, date and symlink target as `cpio -itv` prints them.
func TestCpioVerbose(t *testing.T) {
	requireCpio(t)
	entries := sortedEntries()
	out := gnuCpio(t, buildArchive(t, entries), "-itv", "--numeric-uid-gid")
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(entries) {
		t.Fatalf("cpio -itv printed %d lines, want %d:\n%s", len(lines), len(entries), out)
	}
	for i, e := range entries {
		if got, want := parseVerbose(lines[i]), expectVerbose(e); got != want {
			t.Errorf("line %q\n got %+v\nwant %+v", lines[i], got, want)
		}
	}
}

// verbose is one line of `cpio -itv --numeric-uid-gid`.
type verbose struct{ mode, nlink, owner, sizeOrDev, date, name, target string }

func parseVerbose(line string) verbose {
	f := strings.Fields(line)
	if len(f) < 9 {
		return verbose{name: "unparsed: " + line}
	}
	v := verbose{mode: f[0], nlink: f[1], owner: f[2] + ":" + f[3], sizeOrDev: f[4]}
	rest := f[5:]
	if strings.HasSuffix(f[4], ",") { // "5,   1" for devices
		v.sizeOrDev, rest = f[4]+f[5], f[6:]
	}
	v.date = strings.Join(rest[:3], " ")
	v.name, v.target, _ = strings.Cut(strings.Join(rest[3:], " "), " -> ")
	return v
}

func expectVerbose(e Entry) verbose {
	v := verbose{mode: lsMode(e), nlink: "1", owner: "0:0", sizeOrDev: fmt.Sprint(len(e.Data)),
		date: "Jan 2 2024", name: strings.TrimPrefix(e.Path, "/"), target: e.Target}
	switch e.Mode.Type() {
	case fs.ModeDir:
		v.nlink = "2"
	case fs.ModeSymlink:
		v.sizeOrDev = fmt.Sprint(len(e.Target))
	case charDevice:
		v.sizeOrDev = fmt.Sprintf("%d,%d", e.Major, e.Minor)
	}
	return v
}

// lsMode formats a mode the way ls and cpio do, e.g. "drwxrwxrwt".
func lsMode(e Entry) string {
	b := []byte("-rwxrwxrwx")
	b[0] = map[fs.FileMode]byte{0: '-', fs.ModeDir: 'd', fs.ModeSymlink: 'l', charDevice: 'c'}[e.Mode.Type()]
	perm := e.Mode.Perm()
	if e.Mode.Type() == fs.ModeSymlink {
		perm = 0o777
	}
	for i := range 9 {
		if perm&(1<<(8-i)) == 0 {
			b[i+1] = '-'
		}
	}
	special := func(bit fs.FileMode, at int, set byte) {
		if e.Mode&bit == 0 {
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

// TestCpioContent extracts every regular file to standard output.
func TestCpioContent(t *testing.T) {
	requireCpio(t)
	entries := sortedEntries()
	archive := buildArchive(t, entries)
	for _, e := range entries {
		if e.Mode.Type() != 0 {
			continue
		}
		got := gnuCpio(t, archive, "-i", "--to-stdout", strings.TrimPrefix(e.Path, "/"))
		if !bytes.Equal(got, e.Data) {
			t.Errorf("%s: cpio extracts %d bytes, want %d", e.Path, len(got), len(e.Data))
		}
	}
}
