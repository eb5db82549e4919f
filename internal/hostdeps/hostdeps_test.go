package hostdeps

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const repo = "../.."

func readLists(t *testing.T, filesPath, depsPath string) ([]File, []string) {
	t.Helper()
	f, err := os.Open(filesPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	files, err := ParseFiles(f)
	if err != nil {
		t.Fatalf("%s: %v", filesPath, err)
	}
	script, err := os.ReadFile(depsPath)
	if err != nil {
		t.Fatal(err)
	}
	pkgs, err := ParsePackages(script)
	if err != nil {
		t.Fatalf("%s: %v", depsPath, err)
	}
	return files, pkgs
}

// The real lists on this machine: every host file's package is installed by ci/deps.sh
// and dpkg agrees who owns it. In CI (deps.sh ran first) a missing file fails too.
func TestRepoHostFilesArePackaged(t *testing.T) {
	strict := os.Getenv("CI") != ""
	if _, err := exec.LookPath("dpkg-query"); err != nil {
		if strict {
			t.Fatal("dpkg-query not found: CI runs on Debian 12")
		}
		t.Skip("dpkg-query not found: not a Debian machine")
	}
	files, pkgs := readLists(t, filepath.Join(repo, "ci/host-files.txt"), filepath.Join(repo, "ci/deps.sh"))
	var paths []string
	for _, f := range files {
		paths = append(paths, f.Path)
	}
	owners, err := Dpkg(paths)
	if err != nil {
		t.Fatal(err)
	}
	if err := Check(files, pkgs, owners, strict); err != nil {
		t.Errorf("ci/host-files.txt against ci/deps.sh:\n%v", err)
	}
}

// agreeing is an owner lookup that says each file is owned by the package listed for it.
func agreeing(files []File) Owners {
	return func(path string) ([]string, error) {
		for _, f := range files {
			if f.Path == path && f.How == Generated {
				return nil, ErrNotOwned
			}
			if f.Path == path {
				return []string{f.Package}, nil
			}
		}
		return nil, ErrAbsent
	}
}

func TestCheckFailsWhenAPackageIsDropped(t *testing.T) {
	files, pkgs := readLists(t, "testdata/host-files.txt", "testdata/deps-without-libprotobuf.sh")
	err := Check(files, pkgs, agreeing(files), true)
	if err == nil {
		t.Fatal("Check passed although the deps list has no libprotobuf-dev")
	}
	for _, want := range []string{"libprotobuf-dev", "/usr/include/google/protobuf/timestamp.proto", "add libprotobuf-dev to PACKAGES"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %q:\n%v", want, err)
		}
	}
	if err := Check(files, append(pkgs, "libprotobuf-dev"), agreeing(files), true); err != nil {
		t.Errorf("with libprotobuf-dev listed: %v", err)
	}
}

// Removing any one package that the real host-files list needs from the real deps list
// makes the check fail, naming that package.
func TestCheckFailsForEveryDroppedRepoPackage(t *testing.T) {
	files, pkgs := readLists(t, filepath.Join(repo, "ci/host-files.txt"), filepath.Join(repo, "ci/deps.sh"))
	if err := Check(files, pkgs, agreeing(files), true); err != nil {
		t.Fatalf("the real lists disagree: %v", err)
	}
	needed := map[string]bool{}
	for _, f := range files {
		needed[f.Package] = true
	}
	for pkg := range needed {
		fewer := slices.DeleteFunc(slices.Clone(pkgs), func(p string) bool { return p == pkg })
		err := Check(files, fewer, agreeing(files), true)
		if err == nil || !strings.Contains(err.Error(), "add "+pkg+" to PACKAGES") {
			t.Errorf("without %s: got %v", pkg, err)
		}
	}
}

func TestCheckOwners(t *testing.T) {
	owned := File{Path: "/usr/bin/x", Package: "x-tools", How: Owned, UsedBy: "t", Line: 3}
	generated := File{Path: "/etc/x.crt", Package: "x-certs", How: Generated, UsedBy: "t", Line: 4}
	listed := []string{"x-tools", "x-certs"}
	fixed := func(pkgs []string, err error) Owners {
		return func(string) ([]string, error) { return pkgs, err }
	}
	cases := []struct {
		name   string
		file   File
		owners Owners
		strict bool
		want   string // "" for no problem
	}{
		{"owned as listed", owned, fixed([]string{"x-tools"}, nil), true, ""},
		{"owned by another package", owned, fixed([]string{"y-tools"}, nil), false, "owned by y-tools, not x-tools"},
		{"absent, developer machine", owned, fixed(nil, ErrAbsent), false, ""},
		{"absent in CI", owned, fixed(nil, ErrAbsent), true, "missing although ci/deps.sh ran: install Debian package x-tools"},
		{"not owned but said owned", owned, fixed(nil, ErrNotOwned), false, "no installed package owns /usr/bin/x"},
		{"generated and not owned", generated, fixed(nil, ErrNotOwned), true, ""},
		{"generated but owned", generated, fixed([]string{"x-certs"}, nil), true, `mark it "owned"`},
		{"lookup error", owned, fixed(nil, errors.New("dpkg broke")), false, "dpkg broke"},
	}
	for _, c := range cases {
		err := Check([]File{c.file}, listed, c.owners, c.strict)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: got %v, want %q", c.name, err, c.want)
		}
	}
}

func TestParseFilesErrors(t *testing.T) {
	for _, text := range []string{
		"/usr/bin/x pkg owned",             // no used-by
		"usr/bin/x pkg owned used",         // relative
		"/usr/bin/x pkg installed used-by", // unknown how
	} {
		if _, err := ParseFiles(strings.NewReader(text)); err == nil || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("%q: got %v, want an error naming line 1", text, err)
		}
	}
	if _, err := ParsePackages([]byte("echo no array")); err == nil {
		t.Error("a script without PACKAGES=( ) parsed")
	}
}

func TestDpkgAliases(t *testing.T) {
	for in, want := range map[string][]string{
		"/usr/sbin/losetup": {"/usr/sbin/losetup", "/sbin/losetup"},
		"/bin/sh":           {"/bin/sh", "/usr/bin/sh"},
		"/opt/x":            {"/opt/x"},
	} {
		if got := aliases(in); !slices.Equal(got, want) {
			t.Errorf("aliases(%s) = %v, want %v", in, got, want)
		}
	}
}

func TestScanFixture(t *testing.T) {
	uses, err := Scan("testdata/scan")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, u := range uses {
		got = append(got, u.Name+"|"+u.Package)
	}
	slices.Sort(got)
	want := []string{"/usr/share/fixture/firmware.fd|", "fixture-ctx-tool|", "fixture-lookup|", "fixture-oracle|fixture-pkg", "fixture-tool|"}
	if !slices.Equal(got, want) {
		t.Errorf("Scan found %v, want %v", got, want)
	}
	listed := []File{{Path: "/usr/bin/fixture-tool", Package: "p"}, {Path: "/usr/bin/fixture-oracle", Package: "other-pkg"}}
	var unlisted []string
	for _, u := range Unlisted(uses, listed) {
		unlisted = append(unlisted, u.Name)
	}
	slices.Sort(unlisted)
	if want := []string{"/usr/share/fixture/firmware.fd", "fixture-ctx-tool", "fixture-lookup", "fixture-oracle"}; !slices.Equal(unlisted, want) {
		t.Errorf("Unlisted = %v, want %v (fixture-oracle is listed under another package)", unlisted, want)
	}
}

// Every tool and host path that Go code in the repository names has a line in
// ci/host-files.txt, so a new one cannot slip past the package check.
func TestSourcesNameOnlyListedFiles(t *testing.T) {
	files, _ := readLists(t, filepath.Join(repo, "ci/host-files.txt"), filepath.Join(repo, "ci/deps.sh"))
	uses, err := Scan(repo)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range Unlisted(uses, files) {
		t.Errorf("%s names %s (package %q), which ci/host-files.txt does not list: add it with its Debian package", u.Where, u.Name, u.Package)
	}
}
