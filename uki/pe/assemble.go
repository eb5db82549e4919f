package pe

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
)

// Section is one section that Assemble adds to the stub.
type Section struct {
	Name string // one of KnownSections
	Data []byte // not empty
}

// Options are the inputs of Assemble.
type Options struct {
	Stub      []byte    // systemd-stub, e.g. linuxx64.efi.stub; unsigned
	Sections  []Section // added in this order, each name at most once
	Timestamp uint32    // COFF TimeDateStamp: the build's SOURCE_DATE_EPOCH
}

// KnownSections are the section names Assemble accepts: those of the UAPI
// UKI specification that Kiln uses or may use.
var KnownSections = []string{
	".osrel", ".cmdline", ".uname", ".sbat", ".pcrpkey", ".linux", ".initrd", ".pcrsig", ".splash", ".dtb",
}

// Offsets of fields inside FileHeader, for in-place patching.
const (
	offNumberOfSections     = 2
	offTimeDateStamp        = 4
	offPointerToSymbolTable = 8
	offNumberOfSymbols      = 12
	offCharacteristics      = 18
)

// Assemble returns a UKI: opts.Stub with opts.Sections appended, laid out as
// the package doc describes. The result is a function of opts alone.
func Assemble(opts Options) ([]byte, error) {
	stub, err := Parse(opts.Stub)
	if err != nil {
		return nil, fmt.Errorf("stub: %w", err)
	}
	a, err := newAssembler(stub)
	if err != nil {
		return nil, err
	}
	if err := a.checkSections(opts.Sections); err != nil {
		return nil, err
	}
	a.reserve(opts.Sections)
	for _, s := range opts.Sections {
		if err := a.add(s); err != nil {
			return nil, err
		}
	}
	return a.finish(opts.Timestamp)
}

// assembler holds the image being built from a stub.
type assembler struct {
	stub            *File
	out             []byte          // the image so far
	sections        []SectionHeader // its section table
	sizeOfCode      uint32
	sizeOfInitData  uint32
	strippedSymbols bool
}

func newAssembler(stub *File) (*assembler, error) {
	if dir, ok := stub.directory(DirSecurity); ok && dir != (DataDirectory{}) {
		return nil, ErrSigned
	}
	end, stripped, err := stubEnd(stub)
	if err != nil {
		return nil, err
	}
	return &assembler{
		stub:            stub,
		out:             slices.Clone(stub.data[:end]),
		sections:        slices.Clone(stub.Sections),
		sizeOfCode:      stub.OptionalHeader.SizeOfCode,
		sizeOfInitData:  stub.OptionalHeader.SizeOfInitializedData,
		strippedSymbols: stripped,
	}, nil
}

// directory returns data directory entry i, if the image has one.
func (f *File) directory(i int) (DataDirectory, bool) {
	if i >= len(f.DataDirectory) {
		return DataDirectory{}, false
	}
	return f.DataDirectory[i], true
}

// stubEnd returns where the stub's sections end, after dropping a trailing
// COFF symbol table; any other data after the sections is an error. A
// symbol table pointer is cleared either way: nothing of it is kept.
func stubEnd(stub *File) (end int, strippedSymbols bool, err error) {
	end = stub.RawEnd()
	if end == len(stub.data) {
		return end, stub.FileHeader.PointerToSymbolTable != 0, nil
	}
	if start, ok := stub.symbolTableAtEnd(); ok && start == uint64(end) {
		return end, true, nil
	}
	return 0, false, fmt.Errorf("%w: %d bytes after offset %#x that are not a COFF symbol table", ErrTrailingData, len(stub.data)-end, end)
}

// reserve grows the output buffer once for all the sections to add.
func (a *assembler) reserve(list []Section) {
	align := int(a.stub.OptionalHeader.FileAlignment)
	extra := 0
	for _, s := range list {
		extra += len(s.Data) + 2*align // padding before and after
	}
	a.out = slices.Grow(a.out, extra)
}

// checkSections checks the list of sections to add against the stub before
// anything is added.
func (a *assembler) checkSections(list []Section) error {
	seen := make(map[string]bool, len(list))
	for _, s := range list {
		if !slices.Contains(KnownSections, s.Name) {
			return fmt.Errorf("%w: unknown name %q (known: %v)", ErrSection, s.Name, KnownSections)
		}
		if seen[s.Name] {
			return fmt.Errorf("%w: %s given twice", ErrSection, s.Name)
		}
		seen[s.Name] = true
		if len(s.Data) == 0 {
			return fmt.Errorf("%w: %s is empty (leave it out instead)", ErrSection, s.Name)
		}
		if s.Name != ".sbat" && a.stub.Section(s.Name) != nil {
			return fmt.Errorf("%w: the stub already has a %s section", ErrSection, s.Name)
		}
	}
	return a.checkRoom(len(list), seen[".sbat"] && a.stub.Section(".sbat") != nil)
}

// checkRoom checks that the section table can grow by n headers (one fewer
// if the stub's .sbat moves) inside SizeOfHeaders over zero bytes only.
func (a *assembler) checkRoom(n int, movesSBAT bool) error {
	if movesSBAT {
		if dir, ok := a.stub.directory(DirDebug); ok && dir != (DataDirectory{}) {
			return fmt.Errorf("%w: stub has a debug directory, whose file offsets moving .sbat would break", ErrUnsupported)
		}
		n--
	}
	tableEnd := a.stub.tableOff + sectionHeaderLen*len(a.sections)
	newEnd := tableEnd + sectionHeaderLen*n
	limit := int(a.stub.OptionalHeader.SizeOfHeaders)
	if newEnd > limit {
		return fmt.Errorf("%w: %d more headers need %d bytes after the table at %#x, SizeOfHeaders leaves %d",
			ErrNoRoom, n, newEnd-tableEnd, tableEnd, limit-tableEnd)
	}
	if !zeroes(a.out[tableEnd:newEnd]) {
		return fmt.Errorf("%w: the header bytes after the section table (%#x..%#x) are in use", ErrNoRoom, tableEnd, newEnd)
	}
	return nil
}

// add appends one section; a .sbat is merged with the stub's, which it replaces.
func (a *assembler) add(s Section) error {
	data := s.Data
	if s.Name == ".sbat" {
		var stubSBAT []byte
		if i := a.index(".sbat"); i >= 0 {
			stubSBAT = slices.Clone(a.stub.SectionData(&a.stub.Sections[i]))
			if err := a.remove(i); err != nil {
				return err
			}
		}
		var err error
		if data, err = MergeSBAT(stubSBAT, s.Data); err != nil {
			return err
		}
	}
	return a.append(s.Name, data)
}

// index returns the position of the section named name, or -1.
func (a *assembler) index(name string) int {
	return slices.IndexFunc(a.sections, func(h SectionHeader) bool { return h.Name == name })
}

// remove deletes section i and its raw data, moving later raw data down.
func (a *assembler) remove(i int) error {
	h := a.sections[i]
	align := a.stub.OptionalHeader.FileAlignment
	if h.SizeOfRawData%align != 0 {
		return fmt.Errorf("%w: stub section %s has unaligned raw size %#x", ErrUnsupported, h.Name, h.SizeOfRawData)
	}
	a.sections = slices.Delete(a.sections, i, i+1)
	a.subtractSize(h)
	if h.SizeOfRawData == 0 {
		return nil
	}
	a.out = slices.Delete(a.out, int(h.PointerToRawData), int(h.rawEnd()))
	for j := range a.sections {
		if s := &a.sections[j]; s.SizeOfRawData > 0 && s.PointerToRawData > h.PointerToRawData {
			s.PointerToRawData -= h.SizeOfRawData
		}
	}
	return nil
}

func (a *assembler) subtractSize(h SectionHeader) {
	switch {
	case h.Characteristics&SectionCntCode != 0:
		a.sizeOfCode -= min(a.sizeOfCode, h.SizeOfRawData)
	case h.Characteristics&SectionCntInitializedData != 0:
		a.sizeOfInitData -= min(a.sizeOfInitData, h.SizeOfRawData)
	}
}

// imageEnd is the RVA just past the last section (sections are in address
// order), or SizeOfHeaders if there is none.
func (a *assembler) imageEnd() uint64 {
	if len(a.sections) == 0 {
		return uint64(a.stub.OptionalHeader.SizeOfHeaders)
	}
	return a.sections[len(a.sections)-1].virtualEnd()
}

// append adds a section after the last one, in memory and in the file.
func (a *assembler) append(name string, data []byte) error {
	oh := &a.stub.OptionalHeader
	va := alignUp(a.imageEnd(), uint64(max(PageSize, oh.SectionAlignment)))
	ptr := alignUp(uint64(len(a.out)), uint64(oh.FileAlignment))
	raw := alignUp(uint64(len(data)), uint64(oh.FileAlignment))
	vend := alignUp(va+uint64(len(data)), uint64(oh.SectionAlignment))
	if vend > math.MaxUint32 || ptr+raw > math.MaxUint32 {
		return fmt.Errorf("%w: %s (%d bytes) would take the image past 4 GiB", ErrSection, name, len(data))
	}
	h := SectionHeader{
		Name:             name,
		VirtualSize:      uint32(len(data)),
		VirtualAddress:   uint32(va),
		SizeOfRawData:    uint32(raw),
		PointerToRawData: uint32(ptr),
		Characteristics:  SectionCntInitializedData | SectionMemRead,
	}
	if name == ".linux" {
		// systemd-stub 252 enters the kernel in place (EFI handover).
		h.Characteristics = SectionCntCode | SectionMemExecute | SectionMemRead
		a.sizeOfCode += h.SizeOfRawData
	} else {
		a.sizeOfInitData += h.SizeOfRawData
	}
	a.out = append(a.out, make([]byte, ptr-uint64(len(a.out)))...)
	a.out = append(a.out, data...)
	a.out = append(a.out, make([]byte, raw-uint64(len(data)))...)
	a.sections = append(a.sections, h)
	return nil
}

// finish writes the section table and the header fields, then the checksum,
// and checks that the result parses.
func (a *assembler) finish(timestamp uint32) ([]byte, error) {
	a.writeSectionTable()
	a.writeFileHeader(timestamp)
	a.writeOptionalHeader()
	UpdateChecksum(a.out, a.stub.CheckSumOffset())
	if _, err := Parse(a.out); err != nil {
		return nil, fmt.Errorf("assembled image does not parse (a bug in package pe): %w", err)
	}
	return a.out, nil
}

func (a *assembler) writeSectionTable() {
	off := a.stub.tableOff
	n := max(len(a.sections), len(a.stub.Sections))
	clear(a.out[off : off+sectionHeaderLen*n])
	for i, h := range a.sections {
		// Cannot fail: the buffer holds sectionHeaderLen bytes.
		_, _ = binary.Encode(a.out[off+sectionHeaderLen*i:], binary.LittleEndian, h.raw())
	}
}

func (a *assembler) writeFileHeader(timestamp uint32) {
	fh := a.out[a.stub.fileHeaderOff:]
	le := binary.LittleEndian
	le.PutUint16(fh[offNumberOfSections:], uint16(len(a.sections)))
	le.PutUint32(fh[offTimeDateStamp:], timestamp)
	if a.strippedSymbols {
		le.PutUint32(fh[offPointerToSymbolTable:], 0)
		le.PutUint32(fh[offNumberOfSymbols:], 0)
		le.PutUint16(fh[offCharacteristics:], a.stub.FileHeader.Characteristics|FileLocalSymsStripped)
	}
}

func (a *assembler) writeOptionalHeader() {
	oh := a.out[a.stub.optionalOff:]
	le := binary.LittleEndian
	sizeOfImage := alignUp(a.imageEnd(), uint64(a.stub.OptionalHeader.SectionAlignment))
	le.PutUint32(oh[offSizeOfCode:], a.sizeOfCode)
	le.PutUint32(oh[offSizeOfInitializedData:], a.sizeOfInitData)
	le.PutUint32(oh[offSizeOfImage:], uint32(sizeOfImage))
}
