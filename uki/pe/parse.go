package pe

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
)

// File is a parsed PE32+ image. It refers to the bytes given to Parse and
// does not copy them; it must not outlive changes to them.
type File struct {
	FileHeader     FileHeader
	OptionalHeader OptionalHeader64
	DataDirectory  []DataDirectory // NumberOfRvaAndSizes entries
	Sections       []SectionHeader // in section table order

	fileHeaderOff int // offset of the COFF file header (after "PE\0\0")
	optionalOff   int // offset of the optional header
	tableOff      int // offset of the section table
	data          []byte
}

// Parse reads the headers of a PE32+ x86-64 image and checks that every
// offset and size in them lies inside b. See the package doc for what it
// accepts.
func Parse(b []byte) (*File, error) {
	f := &File{data: b}
	steps := []func() error{f.parseDOS, f.parseFileHeader, f.parseOptionalHeader, f.parseSections}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, err
		}
	}
	return f, nil
}

func formatErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrFormat}, args...)...)
}

// decode reads v from b at off, failing if b is too short.
func decode(b []byte, off uint64, v any, what string) error {
	n := uint64(binary.Size(v))
	if off > uint64(len(b)) || n > uint64(len(b))-off {
		return formatErr("%s at offset %#x runs past the end of the file (%d bytes)", what, off, len(b))
	}
	_, err := binary.Decode(b[off:off+n], binary.LittleEndian, v)
	return err
}

func (f *File) parseDOS() error {
	var dos struct {
		Magic  [2]byte
		_      [58]byte
		LfaNew uint32
	}
	if err := decode(f.data, 0, &dos, "DOS header"); err != nil {
		return err
	}
	if dos.Magic != [2]byte{'M', 'Z'} {
		return formatErr("no MZ signature")
	}
	var sig [4]byte
	if err := decode(f.data, uint64(dos.LfaNew), &sig, "PE signature"); err != nil {
		return err
	}
	if sig != [4]byte{'P', 'E', 0, 0} {
		return formatErr("no PE signature at offset %#x", dos.LfaNew)
	}
	f.fileHeaderOff = int(dos.LfaNew) + 4
	return nil
}

func (f *File) parseFileHeader() error {
	fh := &f.FileHeader
	if err := decode(f.data, uint64(f.fileHeaderOff), fh, "COFF file header"); err != nil {
		return err
	}
	if fh.Machine != MachineAMD64 {
		return fmt.Errorf("%w: machine %#x", ErrUnsupported, fh.Machine)
	}
	if fh.NumberOfSections == 0 || fh.NumberOfSections > maxSections {
		return formatErr("%d sections (want 1 to %d)", fh.NumberOfSections, maxSections)
	}
	f.optionalOff = f.fileHeaderOff + fileHeaderLen
	f.tableOff = f.optionalOff + int(fh.SizeOfOptionalHeader)
	return nil
}

func (f *File) parseOptionalHeader() error {
	oh := &f.OptionalHeader
	if f.FileHeader.SizeOfOptionalHeader < optionalFixedLen {
		return fmt.Errorf("%w: optional header of %d bytes is not PE32+", ErrUnsupported, f.FileHeader.SizeOfOptionalHeader)
	}
	if err := decode(f.data, uint64(f.optionalOff), oh, "optional header"); err != nil {
		return err
	}
	if oh.Magic != magicPE32Plus {
		return fmt.Errorf("%w: optional header magic %#x", ErrUnsupported, oh.Magic)
	}
	n := oh.NumberOfRvaAndSizes
	if n > maxDirectories || optionalFixedLen+dataDirectoryLen*uint64(n) > uint64(f.FileHeader.SizeOfOptionalHeader) {
		return formatErr("%d data directories do not fit the optional header", n)
	}
	f.DataDirectory = make([]DataDirectory, n)
	if err := decode(f.data, uint64(f.optionalOff+optionalFixedLen), f.DataDirectory, "data directory"); err != nil {
		return err
	}
	return f.checkAlignment()
}

func (f *File) checkAlignment() error {
	oh := &f.OptionalHeader
	if !isPowerOfTwo(oh.FileAlignment) || oh.FileAlignment > 0x10000 {
		return formatErr("FileAlignment %#x is not a power of two up to 64 KiB", oh.FileAlignment)
	}
	if !isPowerOfTwo(oh.SectionAlignment) || oh.SectionAlignment < oh.FileAlignment {
		return formatErr("SectionAlignment %#x is not a power of two of at least FileAlignment", oh.SectionAlignment)
	}
	tableEnd := uint64(f.tableOff) + sectionHeaderLen*uint64(f.FileHeader.NumberOfSections)
	if uint64(oh.SizeOfHeaders) < tableEnd || uint64(oh.SizeOfHeaders) > uint64(len(f.data)) {
		return formatErr("SizeOfHeaders %#x does not hold the section table (ends at %#x) or exceeds the file (%#x bytes)",
			oh.SizeOfHeaders, tableEnd, len(f.data))
	}
	return nil
}

func (f *File) parseSections() error {
	raw := make([]rawSectionHeader, f.FileHeader.NumberOfSections)
	if err := decode(f.data, uint64(f.tableOff), raw, "section table"); err != nil {
		return err
	}
	f.Sections = make([]SectionHeader, len(raw))
	for i, r := range raw {
		f.Sections[i] = r.header()
		if err := f.checkSection(i); err != nil {
			return err
		}
	}
	return f.checkRawOverlap()
}

// checkSection checks section i against the file, the image and section i-1.
func (f *File) checkSection(i int) error {
	s := f.Sections[i]
	oh := &f.OptionalHeader
	if s.SizeOfRawData > 0 && (s.rawEnd() > uint64(len(f.data)) || s.PointerToRawData < oh.SizeOfHeaders) {
		return formatErr("section %d %q: raw data %#x+%#x outside the file body (%#x..%#x)",
			i, s.Name, s.PointerToRawData, s.SizeOfRawData, oh.SizeOfHeaders, len(f.data))
	}
	if s.VirtualAddress < oh.SizeOfHeaders || s.virtualEnd() > uint64(oh.SizeOfImage) {
		return formatErr("section %d %q: address range %#x..%#x outside the image (%#x..%#x)",
			i, s.Name, s.VirtualAddress, s.virtualEnd(), oh.SizeOfHeaders, oh.SizeOfImage)
	}
	if i > 0 && uint64(s.VirtualAddress) < f.Sections[i-1].virtualEnd() {
		return formatErr("section %d %q at %#x overlaps or precedes section %q", i, s.Name, s.VirtualAddress, f.Sections[i-1].Name)
	}
	return nil
}

// checkRawOverlap fails if the raw data of two sections overlap in the file.
func (f *File) checkRawOverlap() error {
	byOffset := f.SectionsByOffset()
	for i := 1; i < len(byOffset); i++ {
		prev, s := byOffset[i-1], byOffset[i]
		if prev.rawEnd() > uint64(s.PointerToRawData) {
			return formatErr("raw data of sections %q and %q overlap", prev.Name, s.Name)
		}
	}
	return nil
}

// SectionsByOffset returns the sections that have raw data, sorted by
// PointerToRawData: the order in which Authenticode hashes them.
func (f *File) SectionsByOffset() []SectionHeader {
	var out []SectionHeader
	for _, s := range f.Sections {
		if s.SizeOfRawData > 0 {
			out = append(out, s)
		}
	}
	slices.SortStableFunc(out, func(a, b SectionHeader) int {
		return cmp.Compare(a.PointerToRawData, b.PointerToRawData)
	})
	return out
}

// Section returns the last section named name, as systemd-stub would find
// it, or nil.
func (f *File) Section(name string) *SectionHeader {
	for i := len(f.Sections) - 1; i >= 0; i-- {
		if f.Sections[i].Name == name {
			return &f.Sections[i]
		}
	}
	return nil
}

// SectionData returns the bytes of s that are in the file: its raw data,
// cut to VirtualSize (a VirtualSize of 0 means SizeOfRawData). If
// VirtualSize exceeds SizeOfRawData the loader zero-fills the rest, which
// SectionData does not return. It shares memory with the parsed bytes and
// never allocates; s must be one of f.Sections.
func (f *File) SectionData(s *SectionHeader) []byte {
	n := s.SizeOfRawData
	if s.VirtualSize != 0 {
		n = min(n, s.VirtualSize)
	}
	if n == 0 {
		return nil
	}
	start := int(s.PointerToRawData)
	return f.data[start : start+int(n)]
}

// RawEnd is the file offset just past the raw data of the last section in
// the file (SizeOfHeaders if no section has raw data).
func (f *File) RawEnd() int {
	end := uint64(f.OptionalHeader.SizeOfHeaders)
	for _, s := range f.Sections {
		if s.SizeOfRawData > 0 {
			end = max(end, s.rawEnd())
		}
	}
	return int(end)
}

// CheckSumOffset is the file offset of the optional header's CheckSum.
func (f *File) CheckSumOffset() int {
	return f.optionalOff + offCheckSum
}

// DataDirectoryOffset is the file offset of data directory entry i, and
// false if the image has no such entry.
func (f *File) DataDirectoryOffset(i int) (int, bool) {
	if i < 0 || i >= len(f.DataDirectory) {
		return 0, false
	}
	return f.optionalOff + optionalFixedLen + dataDirectoryLen*i, true
}

// SectionTableOffset is the file offset of the section table.
func (f *File) SectionTableOffset() int {
	return f.tableOff
}

// symbolTableAtEnd returns the offset of the COFF symbol table and whether
// the symbol and string tables run exactly to the end of the file, as in an
// unstripped systemd-stub.
func (f *File) symbolTableAtEnd() (start uint64, ok bool) {
	fh := f.FileHeader
	if fh.PointerToSymbolTable == 0 {
		return 0, false
	}
	start = uint64(fh.PointerToSymbolTable)
	strtab := start + symbolLen*uint64(fh.NumberOfSymbols)
	var size uint32
	if decode(f.data, strtab, &size, "string table size") != nil {
		return 0, false
	}
	return start, strtab+uint64(size) == uint64(len(f.data))
}

// zeroes reports whether b holds only zero bytes.
func zeroes(b []byte) bool {
	return len(bytes.Trim(b, "\x00")) == 0
}
