package pe

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func assemble(t *testing.T, stub []byte, sections []Section) []byte {
	t.Helper()
	out, err := Assemble(Options{Stub: stub, Sections: sections, Timestamp: testTimestamp})
	if err != nil {
		t.Fatalf("Assemble: %v", err)
	}
	return out
}

// TestGolden pins the bytes of a UKI assembled from the tiny stub; see
// testdata/README.md.
func TestGolden(t *testing.T) {
	got := assemble(t, defaultTinyStub(), ukiSections())
	golden := filepath.Join("testdata", "tiny-uki.efi")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("assembled UKI differs from %s (run with -update if the change is intended)", golden)
	}
}

func TestAssembleTinyStub(t *testing.T) {
	checkUKI(t, defaultTinyStub(), assemble(t, defaultTinyStub(), ukiSections()))
}

func TestAssembleSystemdStub(t *testing.T) {
	stub := readSystemdStub(t)
	uki := assemble(t, stub, ukiSections())
	checkUKI(t, stub, uki)
	f, err := Parse(uki)
	if err != nil {
		t.Fatal(err)
	}
	compareWithDebugPE(t, uki, f)
}

// checkUKI checks the layout rules of the package doc on uki, assembled
// from stub with ukiSections.
func checkUKI(t *testing.T, stub, uki []byte) {
	t.Helper()
	s, err := Parse(stub)
	if err != nil {
		t.Fatal(err)
	}
	f, err := Parse(uki)
	if err != nil {
		t.Fatal(err)
	}
	checkHeaders(t, s, f, uki)
	checkAddedSections(t, s, f)
	checkStubSectionsKept(t, s, f)
	checkSizes(t, f)
}

func checkHeaders(t *testing.T, stub, f *File, uki []byte) {
	t.Helper()
	fh, oh := f.FileHeader, f.OptionalHeader
	if fh.TimeDateStamp != testTimestamp {
		t.Errorf("TimeDateStamp = %d, want %d", fh.TimeDateStamp, testTimestamp)
	}
	if fh.PointerToSymbolTable != 0 || fh.NumberOfSymbols != 0 || fh.Characteristics&FileLocalSymsStripped == 0 {
		t.Errorf("symbol table not stripped: %+v", fh)
	}
	if f.RawEnd() != len(uki) {
		t.Errorf("%d bytes after the last section", len(uki)-f.RawEnd())
	}
	if got := Checksum(uki, f.CheckSumOffset()); got != oh.CheckSum {
		t.Errorf("CheckSum field %#x, computed %#x", oh.CheckSum, got)
	}
	last := f.Sections[len(f.Sections)-1]
	if want := alignUp(last.virtualEnd(), uint64(oh.SectionAlignment)); uint64(oh.SizeOfImage) != want {
		t.Errorf("SizeOfImage = %#x, want %#x", oh.SizeOfImage, want)
	}
	if oh.AddressOfEntryPoint != stub.OptionalHeader.AddressOfEntryPoint || oh.SectionAlignment != stub.OptionalHeader.SectionAlignment {
		t.Errorf("entry point or alignment changed")
	}
}

// checkAddedSections checks that the new sections come last, in order,
// page-aligned, with their data, and that .sbat is the merged one.
func checkAddedSections(t *testing.T, stub, f *File) {
	t.Helper()
	added := ukiSections()
	tail := f.Sections[len(f.Sections)-len(added):]
	for i, want := range added {
		h := tail[i]
		if h.Name != want.Name {
			t.Errorf("section %d is %s, want %s", i, h.Name, want.Name)
			continue
		}
		if h.VirtualAddress%PageSize != 0 || h.PointerToRawData%f.OptionalHeader.FileAlignment != 0 {
			t.Errorf("%s at %#x (file %#x) is not aligned", h.Name, h.VirtualAddress, h.PointerToRawData)
		}
		data := f.SectionData(&tail[i])
		if want.Name == ".sbat" {
			stubSBAT := string(stub.SectionData(stub.Section(".sbat")))
			wantSBAT := strings.TrimSuffix(stubSBAT, "\x00") + string(want.Data) + "\x00"
			if string(data) != wantSBAT {
				t.Errorf(".sbat = %q, want %q", data, wantSBAT)
			}
			continue
		}
		if !bytes.Equal(data, want.Data) {
			t.Errorf("%s holds %d bytes that differ from the %d given", h.Name, len(data), len(want.Data))
		}
	}
	if n := strings.Count(sectionNames(f), ".sbat"); n != 1 {
		t.Errorf("%d .sbat sections", n)
	}
}

// checkStubSectionsKept checks that every stub section but .sbat is still
// there with the same address and contents.
func checkStubSectionsKept(t *testing.T, stub, f *File) {
	t.Helper()
	for i := range stub.Sections {
		s := &stub.Sections[i]
		if s.Name == ".sbat" {
			continue
		}
		got := f.Section(s.Name)
		if got == nil || got.VirtualAddress != s.VirtualAddress || got.VirtualSize != s.VirtualSize ||
			!bytes.Equal(f.SectionData(got), stub.SectionData(s)) {
			t.Errorf("stub section %s not kept as it was", s.Name)
		}
	}
}

// checkSizes checks SizeOfCode and SizeOfInitializedData against the raw
// sizes of the code and data sections, which is how GNU ld computes them for
// systemd-stub.
func checkSizes(t *testing.T, f *File) {
	t.Helper()
	var code, data uint32
	for _, s := range f.Sections {
		if s.Characteristics&SectionCntCode != 0 {
			code += s.SizeOfRawData
		} else if s.Characteristics&SectionCntInitializedData != 0 {
			data += s.SizeOfRawData
		}
	}
	if oh := f.OptionalHeader; oh.SizeOfCode != code || oh.SizeOfInitializedData != data {
		t.Errorf("SizeOfCode %#x, SizeOfInitializedData %#x; sections add up to %#x and %#x",
			oh.SizeOfCode, oh.SizeOfInitializedData, code, data)
	}
}

func sectionNames(f *File) string {
	var names []string
	for _, s := range f.Sections {
		names = append(names, s.Name)
	}
	return strings.Join(names, " ")
}

func TestAssembleDeterministic(t *testing.T) {
	a := assemble(t, defaultTinyStub(), ukiSections())
	b := assemble(t, defaultTinyStub(), ukiSections())
	if !bytes.Equal(a, b) {
		t.Errorf("two assemblies of the same input differ")
	}
}

// TestAssembleKeepsStubSBAT checks that without a .sbat in the options the
// stub's .sbat stays where it was, untouched.
func TestAssembleKeepsStubSBAT(t *testing.T) {
	stub := defaultTinyStub()
	uki := assemble(t, stub, []Section{{Name: ".linux", Data: []byte("kernel")}})
	f, err := Parse(uki)
	if err != nil {
		t.Fatal(err)
	}
	if got := sectionNames(f); got != ".text .sbat .sdmagic .linux" {
		t.Errorf("sections %q", got)
	}
	if s := f.Section(".sbat"); s.VirtualAddress != 0x1200 || string(f.SectionData(s)) != tinySBAT {
		t.Errorf(".sbat changed: %+v", s)
	}
}

// TestAssembleStubWithoutSBAT checks that a .sbat is added, with the sbat
// header line, when the stub has none.
func TestAssembleStubWithoutSBAT(t *testing.T) {
	stub := defaultTinyStub()
	copy(stub[0x188+40:], ".nosbat\x00") // rename the stub's .sbat
	uki := assemble(t, stub, []Section{{Name: ".sbat", Data: []byte("kiln,1,Kiln,kiln,1,https://example.invalid/\n")}})
	f, err := Parse(uki)
	if err != nil {
		t.Fatal(err)
	}
	want := sbatHeader + "\nkiln,1,Kiln,kiln,1,https://example.invalid/\n\x00"
	if got := string(f.SectionData(f.Section(".sbat"))); got != want {
		t.Errorf(".sbat = %q, want %q", got, want)
	}
}

func TestAssembleRejects(t *testing.T) {
	linux := Section{Name: ".linux", Data: []byte("kernel")}
	tests := []struct {
		name     string
		stub     func() []byte
		sections []Section
		want     error
	}{
		{"unknown name", defaultTinyStub, []Section{{Name: ".kernel", Data: []byte("x")}}, ErrSection},
		{"twice", defaultTinyStub, []Section{linux, linux}, ErrSection},
		{"empty", defaultTinyStub, []Section{{Name: ".cmdline"}}, ErrSection},
		{"name in the stub", func() []byte {
			b := defaultTinyStub()
			copy(b[0x188+80:], ".osrel\x00\x00")
			return b
		}, []Section{{Name: ".osrel", Data: []byte("ID=x")}}, ErrSection},
		{"signed stub", func() []byte {
			b := defaultTinyStub()
			dir := 0x84 + fileHeaderLen + optionalFixedLen + DirSecurity*dataDirectoryLen
			copy(b[dir:], []byte{0, 0xa, 0, 0, 8, 0, 0, 0})
			return b
		}, []Section{linux}, ErrSigned},
		{"trailing data", func() []byte { return append(tinyStub(tinyStubOptions{lfanew: 0x80}), 1, 2, 3) }, []Section{linux}, ErrTrailingData},
		{"no room", func() []byte { return tinyStub(tinyStubOptions{lfanew: 0x200}) }, ukiSections(), ErrNoRoom},
		{"header bytes in use", func() []byte {
			b := defaultTinyStub()
			b[0x200] = 1 // just after the section table
			return b
		}, []Section{linux}, ErrNoRoom},
		{"bad SBAT line", defaultTinyStub, []Section{{Name: ".sbat", Data: []byte("kiln,1,Kiln\n")}}, ErrSBAT},
		{"SBAT component of the stub", defaultTinyStub, []Section{{Name: ".sbat", Data: []byte("tiny,2,Tiny Stub,tiny,2,https://example.invalid/\n")}}, ErrSBAT},
		{"not a PE", func() []byte { return []byte("#!/bin/sh\n") }, []Section{linux}, ErrFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Assemble(Options{Stub: tt.stub(), Sections: tt.sections, Timestamp: testTimestamp})
			if !errors.Is(err, tt.want) {
				t.Errorf("Assemble: %v, want %v", err, tt.want)
			}
		})
	}
}

// TestAssembleFits checks the room check's edge: the stub with its PE
// header at 0x200 has room for exactly three more section headers.
func TestAssembleFits(t *testing.T) {
	stub := tinyStub(tinyStubOptions{lfanew: 0x200})
	three := ukiSections()[:3]
	if _, err := Assemble(Options{Stub: stub, Sections: three}); err != nil {
		t.Errorf("three sections: %v", err)
	}
	// Moving .sbat takes no extra header.
	withSBAT := append(ukiSections()[:3:3], ukiSections()[3])
	if _, err := Assemble(Options{Stub: stub, Sections: withSBAT}); err != nil {
		t.Errorf("three sections and .sbat: %v", err)
	}
}

func TestMergeSBAT(t *testing.T) {
	const kiln = "kiln,1,Kiln,kiln,1.0,https://example.invalid/"
	tests := []struct {
		name, stub, extra, want string
		err                     error
	}{
		{"append", tinySBAT, kiln + "\n", strings.TrimSuffix(tinySBAT, "\x00") + kiln + "\n\x00", nil},
		{"header and CRLF dropped", tinySBAT, sbatHeader + "\r\n" + kiln + "\r\n", strings.TrimSuffix(tinySBAT, "\x00") + kiln + "\n\x00", nil},
		{"duplicate dropped", tinySBAT, "tiny,1,Tiny Stub,tiny,1,https://example.invalid/\n" + kiln, strings.TrimSuffix(tinySBAT, "\x00") + kiln + "\n\x00", nil},
		{"no stub", "", kiln, sbatHeader + "\n" + kiln + "\n\x00", nil},
		{"no trailing newline", tinySBAT, kiln, strings.TrimSuffix(tinySBAT, "\x00") + kiln + "\n\x00", nil},
		{"five fields", tinySBAT, "kiln,1,Kiln,kiln,1.0", "", ErrSBAT},
		{"generation 0", tinySBAT, "kiln,0,Kiln,kiln,1.0,https://example.invalid/", "", ErrSBAT},
		{"quote", tinySBAT, `kiln,1,"Kiln",kiln,1.0,https://example.invalid/`, "", ErrSBAT},
		{"stub without header", "systemd,1,x,y,z,w\n", kiln, "", ErrSBAT},
		{"data after NUL", tinySBAT + "x", kiln, "", ErrSBAT},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := MergeSBAT([]byte(tt.stub), []byte(tt.extra))
			if !errors.Is(err, tt.err) || err == nil && string(got) != tt.want {
				t.Errorf("MergeSBAT = %q, %v; want %q, %v", got, err, tt.want, tt.err)
			}
		})
	}
}
