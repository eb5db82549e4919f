package pe

// Oracle tests: GNU objdump reads the assembled UKIs back.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

func requireObjdump(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("objdump"); err != nil {
		t.Skip("objdump not on PATH: install binutils to run the oracle tests")
	}
}

// objdumpSection matches a section line of `objdump -h`:
// Idx Name Size VMA LMA File-off Algn.
var objdumpSection = regexp.MustCompile(`^\s*\d+\s+(\S+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)\s`)

// objdumpSections lists the sections objdump -h sees in the image b, in
// the form "name size=... vma=... off=...".
func objdumpSections(t *testing.T, b []byte) []string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "uki.efi")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("objdump", "-h", path).CombinedOutput()
	if err != nil {
		t.Fatalf("objdump -h: %v\n%s", err, out)
	}
	var sections []string
	for _, line := range strings.Split(string(out), "\n") {
		m := objdumpSection.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		size, _ := strconv.ParseUint(m[2], 16, 64)
		vma, _ := strconv.ParseUint(m[3], 16, 64)
		off, _ := strconv.ParseUint(m[4], 16, 64)
		sections = append(sections, fmt.Sprintf("%s size=%#x vma=%#x off=%#x", m[1], size, vma, off))
	}
	return sections
}

func ourSections(t *testing.T, b []byte) []string {
	t.Helper()
	f, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	var sections []string
	for _, s := range f.Sections {
		sections = append(sections, fmt.Sprintf("%s size=%#x vma=%#x off=%#x",
			s.Name, s.VirtualSize, s.VirtualAddress, s.PointerToRawData))
	}
	return sections
}

// checkObjdump checks that objdump sees the sections Parse sees, and the
// added ones page-aligned and in order at the end.
func checkObjdump(t *testing.T, uki []byte) {
	t.Helper()
	got, want := objdumpSections(t, uki), ourSections(t, uki)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("objdump -h sees\n%s\nParse sees\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	added := ukiSections()
	tail := got[len(got)-len(added):]
	for i, s := range added {
		var name string
		var size, vma, off uint64
		if _, err := fmt.Sscanf(tail[i], "%s size=%v vma=%v off=%v", &name, &size, &vma, &off); err != nil {
			t.Fatalf("%q: %v", tail[i], err)
		}
		if name != s.Name || vma%PageSize != 0 {
			t.Errorf("objdump section %d: %s at %#x, want %s page-aligned", i, name, vma, s.Name)
		}
	}
}

func TestObjdumpTinyUKI(t *testing.T) {
	requireObjdump(t)
	checkObjdump(t, assemble(t, defaultTinyStub(), ukiSections()))
}

func TestObjdumpSystemdStubUKI(t *testing.T) {
	requireObjdump(t)
	checkObjdump(t, assemble(t, readSystemdStub(t), ukiSections()))
}
