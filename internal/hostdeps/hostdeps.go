// Package hostdeps checks that every host file the build and the tests use comes from a
// Debian package that ci/deps.sh installs, so that a fresh Debian 12 machine passes
// `make test` and a package installed by hand cannot hide a missing install step.
//
// The files are listed in ci/host-files.txt, each with the package that owns it; dpkg is
// asked who really owns it. This package reads the lists and asks dpkg; it installs
// nothing and never touches the network.
package hostdeps

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
)

// How a listed file comes from its package.
const (
	// Owned: dpkg lists the path as one of the package's files.
	Owned = "owned"
	// Generated: the package's maintainer scripts make it (ca-certificates.crt), so dpkg
	// does not own the path; only its presence is checked.
	Generated = "generated"
)

// File is one host file, as listed in ci/host-files.txt.
type File struct {
	Path    string
	Package string
	How     string // Owned or Generated
	UsedBy  string
	Line    int
}

// ParseFiles reads a host-files list: one file a line, `path package how used-by...`;
// blank lines and lines starting with # are skipped.
func ParseFiles(r io.Reader) ([]File, error) {
	var files []File
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f, err := parseFileLine(line, n)
		if err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	return files, sc.Err()
}

func parseFileLine(line string, n int) (File, error) {
	fields := strings.Fields(line)
	if len(fields) < 4 {
		return File{}, fmt.Errorf("line %d: want `path package owned|generated used-by...`, got %q", n, line)
	}
	f := File{Path: fields[0], Package: fields[1], How: fields[2], UsedBy: strings.Join(fields[3:], " "), Line: n}
	if !strings.HasPrefix(f.Path, "/") {
		return File{}, fmt.Errorf("line %d: %q is not an absolute path", n, f.Path)
	}
	if f.How != Owned && f.How != Generated {
		return File{}, fmt.Errorf("line %d: %q: third field is %q, want %q or %q", n, f.Path, f.How, Owned, Generated)
	}
	return f, nil
}

// packagesArray matches the bash array that ci/deps.sh installs.
var packagesArray = regexp.MustCompile(`(?ms)^PACKAGES=\((.*?)^\)`)

// ParsePackages returns the package names in a deps script's `PACKAGES=( ... )` array,
// ignoring comments.
func ParsePackages(script []byte) ([]string, error) {
	m := packagesArray.FindSubmatch(script)
	if m == nil {
		return nil, errors.New("hostdeps: no PACKAGES=( ... ) array in the deps script")
	}
	var pkgs []string
	for _, line := range bytes.Split(m[1], []byte("\n")) {
		line, _, _ = bytes.Cut(line, []byte("#"))
		for _, f := range strings.Fields(string(line)) {
			pkgs = append(pkgs, f)
		}
	}
	if len(pkgs) == 0 {
		return nil, errors.New("hostdeps: the PACKAGES array is empty")
	}
	return pkgs, nil
}
