package pe

import (
	"bytes"
	stdpe "debug/pe"
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"testing"
)

// TestParseSystemdStub checks the facts about Debian's systemd-stub 252
// that Assemble relies on, and compares the section table with debug/pe.
func TestParseSystemdStub(t *testing.T) {
	stub := readSystemdStub(t)
	f, err := Parse(stub)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.OptionalHeader.SectionAlignment; got != 0x200 && got != 0x1000 {
		t.Errorf("SectionAlignment %#x, want 0x200 (252) or 0x1000 (newer)", got)
	}
	sbat := f.Section(".sbat")
	if sbat == nil || !bytes.HasPrefix(f.SectionData(sbat), []byte("sbat,1,")) {
		t.Errorf("stub has no .sbat starting with the sbat header line")
	}
	if got, want := Checksum(stub, f.CheckSumOffset()), f.OptionalHeader.CheckSum; got != want {
		t.Errorf("Checksum = %#x, the stub's CheckSum field is %#x", got, want)
	}
	compareWithDebugPE(t, stub, f)
}

// compareWithDebugPE checks f's sections and headers against the standard
// library's reading of b.
func compareWithDebugPE(t *testing.T, b []byte, f *File) {
	t.Helper()
	std, err := stdpe.NewFile(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("debug/pe: %v", err)
	}
	oh, ok := std.OptionalHeader.(*stdpe.OptionalHeader64)
	if !ok {
		t.Fatalf("debug/pe: optional header %T", std.OptionalHeader)
	}
	if oh.SizeOfImage != f.OptionalHeader.SizeOfImage || oh.CheckSum != f.OptionalHeader.CheckSum ||
		std.TimeDateStamp != f.FileHeader.TimeDateStamp {
		t.Errorf("headers differ from debug/pe")
	}
	if len(std.Sections) != len(f.Sections) {
		t.Fatalf("%d sections, debug/pe reads %d", len(f.Sections), len(std.Sections))
	}
	for i, s := range std.Sections {
		got := f.Sections[i]
		if s.Name != got.Name || s.VirtualAddress != got.VirtualAddress || s.VirtualSize != got.VirtualSize ||
			s.Offset != got.PointerToRawData || s.Size != got.SizeOfRawData || s.Characteristics != got.Characteristics {
			t.Errorf("section %d: %+v, debug/pe reads %+v", i, got, s.SectionHeader)
		}
	}
}

func TestParseTinyStub(t *testing.T) {
	stub := defaultTinyStub()
	f, err := Parse(stub)
	if err != nil {
		t.Fatal(err)
	}
	names := func() (n []string) {
		for _, s := range f.Sections {
			n = append(n, s.Name)
		}
		return n
	}()
	if !slices.Equal(names, []string{".text", ".sbat", ".sdmagic"}) {
		t.Errorf("sections %q", names)
	}
	if got := string(f.SectionData(f.Section(".sbat"))); got != tinySBAT {
		t.Errorf(".sbat = %q", got)
	}
	if f.RawEnd() != 0xa00 {
		t.Errorf("RawEnd = %#x, want 0xa00", f.RawEnd())
	}
	if f.Section(".nope") != nil {
		t.Errorf("found a section that does not exist")
	}
	compareWithDebugPE(t, stub, f)
}

// TestParseRejects corrupts the tiny stub field by field.
func TestParseRejects(t *testing.T) {
	const pe = 0x80 + 4 // COFF file header
	const oh = pe + fileHeaderLen
	const table = oh + optionalFixedLen + maxDirectories*dataDirectoryLen
	put16 := func(off int, v uint16) func([]byte) {
		return func(b []byte) { binary.LittleEndian.PutUint16(b[off:], v) }
	}
	put32 := func(off int, v uint32) func([]byte) {
		return func(b []byte) { binary.LittleEndian.PutUint32(b[off:], v) }
	}
	tests := []struct {
		name   string
		mutate func([]byte)
		want   error
	}{
		{"no MZ", func(b []byte) { b[0] = 'X' }, ErrFormat},
		{"e_lfanew past the end", put32(0x3c, 0xffffffff), ErrFormat},
		{"no PE signature", func(b []byte) { b[0x80] = 'X' }, ErrFormat},
		{"i386", put16(pe, 0x14c), ErrUnsupported},
		{"no sections", put16(pe+2, 0), ErrFormat},
		{"too many sections", put16(pe+2, 97), ErrFormat},
		{"PE32 magic", put16(oh, 0x10b), ErrUnsupported},
		{"short optional header", put16(pe+16, 100), ErrUnsupported},
		{"17 data directories", put32(oh+108, 17), ErrFormat},
		{"FileAlignment 0", put32(oh+36, 0), ErrFormat},
		{"SectionAlignment below FileAlignment", put32(oh+32, 0x100), ErrFormat},
		{"SizeOfHeaders past the end", put32(oh+60, 0x100000), ErrFormat},
		{"SizeOfHeaders cuts the section table", put32(oh+60, 0x1f0), ErrFormat},
		{"raw data past the end", put32(table+16, 0x100000), ErrFormat},
		{"raw data wraps", func(b []byte) { put32(table+20, 0xffffff00)(b); put32(table+16, 0x200)(b) }, ErrFormat},
		{"raw data in the headers", put32(table+20, 0x200), ErrFormat},
		{"raw data overlap", put32(table+40+20, 0x400), ErrFormat},
		{"address past SizeOfImage", put32(oh+56, 0x1200), ErrFormat},
		{"addresses out of order", put32(table+40+12, 0x1000), ErrFormat},
		{"address in the headers", put32(table+12, 0x200), ErrFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := defaultTinyStub()
			tt.mutate(b)
			_, err := Parse(b)
			if !errors.Is(err, tt.want) {
				t.Errorf("Parse: %v, want %v", err, tt.want)
			}
		})
	}
}

// TestParseTruncated cuts the tiny stub at every length inside its headers
// and at a few beyond: each must fail cleanly.
func TestParseTruncated(t *testing.T) {
	stub := defaultTinyStub()
	for n := 0; n < 0x900; n += 7 {
		if _, err := Parse(stub[:n]); !errors.Is(err, ErrFormat) {
			t.Fatalf("Parse of %d bytes: %v, want ErrFormat", n, err)
		}
	}
}

func TestChecksum(t *testing.T) {
	// The bytes of "MZ" and a 1-byte tail, with the checksum field at 2..6.
	b := []byte{'M', 'Z', 0xff, 0xff, 0xff, 0xff, 0x01}
	// 0x5a4d + 0x0001 + length 7
	if got := Checksum(b, 2); got != 0x5a4d+1+7 {
		t.Errorf("Checksum = %#x", got)
	}
	// The field is skipped wherever it is, even at an odd offset.
	if Checksum([]byte{1, 0xff, 0xff, 0xff, 0xff, 2}, 1) != Checksum([]byte{1, 0, 0, 0, 0, 2}, 1) {
		t.Errorf("checksum field at an odd offset is not skipped")
	}
	// Carries fold back into the low 16 bits.
	if got := Checksum([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0}, 4); got != 0xffff+8 {
		t.Errorf("Checksum with carry = %#x, want %#x", got, 0xffff+8)
	}
	if !strings.Contains(ErrFormat.Error(), "pe:") {
		t.Errorf("sentinel errors are not prefixed with the package name")
	}
}
