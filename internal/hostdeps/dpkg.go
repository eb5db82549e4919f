package hostdeps

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Dpkg asks dpkg, in one call, which packages own each of paths, and returns the answers
// as an Owners. Debian 12 merges /bin into /usr/bin, but dpkg still records many files
// under their old name (/bin/tar, /sbin/losetup), so both names are asked, and then the
// target of a symbolic link (/usr/bin/cc → /usr/bin/gcc-12).
func Dpkg(paths []string) (Owners, error) {
	candidates := map[string][]string{}
	var all []string
	for _, p := range paths {
		names := aliases(p)
		if target, err := filepath.EvalSymlinks(p); err == nil && target != p {
			names = append(names, aliases(target)...)
		}
		candidates[p] = names
		all = append(all, names...)
	}
	owners, err := dpkgSearch(all)
	if err != nil {
		return nil, err
	}
	return func(path string) ([]string, error) {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return nil, ErrAbsent
		}
		for _, name := range candidates[path] {
			if pkgs := owners[name]; len(pkgs) > 0 {
				return pkgs, nil
			}
		}
		return nil, ErrNotOwned
	}, nil
}

// aliases is path and its other name under merged /usr.
func aliases(path string) []string {
	for _, dir := range []string{"/bin/", "/sbin/", "/lib/", "/lib64/"} {
		if rest, ok := strings.CutPrefix(path, "/usr"+dir); ok {
			return []string{path, dir + rest}
		}
		if rest, ok := strings.CutPrefix(path, dir); ok {
			return []string{path, "/usr" + dir + rest}
		}
	}
	return []string{path}
}

// dpkgSearch runs `dpkg-query -S path...`, which prints `pkg[:arch][, pkg...]: path` for
// each owned path and exits with status 1 when some path has no owner.
func dpkgSearch(paths []string) (map[string][]string, error) {
	var stderr bytes.Buffer
	cmd := exec.Command("dpkg-query", append([]string{"-S"}, paths...)...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var exit *exec.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 1) {
		return nil, fmt.Errorf("dpkg-query -S: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	owners := map[string][]string{}
	for _, line := range strings.Split(string(out), "\n") {
		names, file, ok := strings.Cut(line, ": ")
		if !ok || strings.HasPrefix(names, "diversion by") {
			continue
		}
		for _, name := range strings.Split(names, ", ") {
			name, _, _ = strings.Cut(name, ":")
			owners[file] = append(owners[file], name)
		}
	}
	return owners, nil
}
