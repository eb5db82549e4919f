package pipeline

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// kube-proxy programs its rules with the nft program (its nftables mode, through
// sigs.k8s.io/knftables, which runs nft); Debian has no static nft, so the payload
// carries Debian's, from the nftables package, with the shared libraries it loads and
// the dynamic loader, under kubepayload's lib/nft. The kube binary's "nft" program runs it
// through that loader with that library path: nothing of it is looked up in the node's
// root, which has no libc.
const (
	NFTBinary  = "/usr/sbin/nft"
	NFTPackage = "nftables"
	// nftLoader is the dynamic loader nft names (its PT_INTERP).
	nftLoader = "/lib64/ld-linux-x86-64.so.2"
)

// nftClosure is nft, every shared library it loads and the loader, in path order. The
// loader itself resolves the libraries (ld.so --list, what ldd runs), so the payload
// holds exactly the files that nft loads on this host.
func nftClosure() ([]string, error) {
	if _, err := os.Stat(NFTBinary); err != nil {
		return nil, fmt.Errorf("%s is missing: install Debian package %s (make deps): %w", NFTBinary, NFTPackage, err)
	}
	out, err := exec.Command(nftLoader, "--list", NFTBinary).Output()
	if err != nil {
		return nil, fmt.Errorf("%s --list %s: %w", nftLoader, NFTBinary, commandError(err))
	}
	paths := []string{NFTBinary}
	for _, line := range strings.Split(string(out), "\n") {
		// "\tlibmnl.so.0 => /lib/x86_64-linux-gnu/libmnl.so.0 (0x...)" or
		// "\t/lib64/ld-linux-x86-64.so.2 (0x...)"; linux-vdso has no file.
		fields := strings.Fields(line)
		switch {
		case len(fields) == 4 && fields[1] == "=>":
			paths = append(paths, fields[2])
		case len(fields) == 2 && strings.HasPrefix(fields[0], "/"):
			paths = append(paths, fields[0])
		case len(fields) >= 3 && fields[1] == "=>" && fields[2] == "not":
			return nil, fmt.Errorf("%s: %s not found", NFTBinary, fields[0])
		}
	}
	slices.Sort(paths)
	return slices.Compact(paths), nil
}

// debianVersions names the Debian package, with its version, of each host file, for the
// payload's versions.json ("libc6": "2.36-9+deb12u10").
func debianVersions(paths []string) (map[string]string, error) {
	versions := map[string]string{}
	for _, p := range paths {
		pkg, version, err := debianOwner(p)
		if err != nil {
			return nil, err
		}
		versions[pkg] = version
	}
	return versions, nil
}

// debianOwner is the package that owns path (or the file a symlink at path names) and
// its installed version.
func debianOwner(path string) (string, string, error) {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return "", "", err
	}
	var pkg string
	for _, candidate := range []string{path, real, strings.TrimPrefix(real, "/usr")} {
		out, err := exec.Command("dpkg-query", "-S", candidate).Output()
		if err == nil {
			pkg, _, _ = strings.Cut(strings.TrimSpace(string(out)), ":")
			break
		}
	}
	if pkg == "" {
		return "", "", fmt.Errorf("%s belongs to no Debian package", path)
	}
	out, err := exec.Command("dpkg-query", "-W", "-f", "${Version}", pkg).Output()
	if err != nil {
		return "", "", fmt.Errorf("dpkg-query %s: %w", pkg, err)
	}
	return pkg, string(out), nil
}
