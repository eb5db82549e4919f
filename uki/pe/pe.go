package pe

import (
	"errors"
	"strings"
)

// Errors returned by Parse and Assemble, wrapped with the detail at fault.
var (
	ErrFormat       = errors.New("pe: malformed image")
	ErrUnsupported  = errors.New("pe: unsupported image (only PE32+ x86-64)")
	ErrSigned       = errors.New("pe: stub is Authenticode-signed (pass the unsigned stub and sign the assembled image)")
	ErrTrailingData = errors.New("pe: unknown data after the last section")
	ErrNoRoom       = errors.New("pe: no room for the new section headers in the stub's headers")
	ErrSection      = errors.New("pe: invalid section")
	ErrSBAT         = errors.New("pe: invalid SBAT data")
)

// Values of the headers that this package reads or writes.
const (
	MachineAMD64  = 0x8664
	magicPE32Plus = 0x20b

	// Characteristics of the COFF file header.
	FileLocalSymsStripped = 0x0008

	// Section characteristics.
	SectionCntCode            = 0x00000020
	SectionCntInitializedData = 0x00000040
	SectionMemExecute         = 0x20000000
	SectionMemRead            = 0x40000000

	// Indexes into the data directory.
	DirDebug    = 6
	DirSecurity = 4

	// PageSize is the alignment of every section Assemble adds: a multiple of
	// the SectionAlignment of every systemd-stub (0x200 in 252, 0x1000 later).
	PageSize = 0x1000

	maxSections      = 96 // the PE/COFF specification's limit for images
	maxDirectories   = 16
	sectionHeaderLen = 40
	fileHeaderLen    = 20
	optionalFixedLen = 112 // PE32+ optional header without data directories
	dataDirectoryLen = 8
	symbolLen        = 18 // one COFF symbol table record
)

// FileHeader is the COFF file header.
type FileHeader struct {
	Machine              uint16
	NumberOfSections     uint16
	TimeDateStamp        uint32
	PointerToSymbolTable uint32
	NumberOfSymbols      uint32
	SizeOfOptionalHeader uint16
	Characteristics      uint16
}

// OptionalHeader64 is the fixed part of the PE32+ optional header; the data
// directories that follow it are File.DataDirectory.
type OptionalHeader64 struct {
	Magic                       uint16
	MajorLinkerVersion          uint8
	MinorLinkerVersion          uint8
	SizeOfCode                  uint32
	SizeOfInitializedData       uint32
	SizeOfUninitializedData     uint32
	AddressOfEntryPoint         uint32
	BaseOfCode                  uint32
	ImageBase                   uint64
	SectionAlignment            uint32
	FileAlignment               uint32
	MajorOperatingSystemVersion uint16
	MinorOperatingSystemVersion uint16
	MajorImageVersion           uint16
	MinorImageVersion           uint16
	MajorSubsystemVersion       uint16
	MinorSubsystemVersion       uint16
	Win32VersionValue           uint32
	SizeOfImage                 uint32
	SizeOfHeaders               uint32
	CheckSum                    uint32
	Subsystem                   uint16
	DllCharacteristics          uint16
	SizeOfStackReserve          uint64
	SizeOfStackCommit           uint64
	SizeOfHeapReserve           uint64
	SizeOfHeapCommit            uint64
	LoaderFlags                 uint32
	NumberOfRvaAndSizes         uint32
}

// Offsets of fields inside OptionalHeader64, for in-place patching.
const (
	offSizeOfCode            = 4
	offSizeOfInitializedData = 8
	offSizeOfImage           = 56
	offCheckSum              = 64
)

// DataDirectory is one entry of the optional header's data directory. For
// DirSecurity, VirtualAddress is a file offset.
type DataDirectory struct {
	VirtualAddress uint32
	Size           uint32
}

// SectionHeader is one entry of the section table.
type SectionHeader struct {
	Name                 string // up to 8 bytes, trailing NULs removed
	VirtualSize          uint32
	VirtualAddress       uint32
	SizeOfRawData        uint32
	PointerToRawData     uint32
	PointerToRelocations uint32
	PointerToLineNumbers uint32
	NumberOfRelocations  uint16
	NumberOfLineNumbers  uint16
	Characteristics      uint32
}

// rawSectionHeader is SectionHeader as it is laid out in the file.
type rawSectionHeader struct {
	Name                 [8]byte
	VirtualSize          uint32
	VirtualAddress       uint32
	SizeOfRawData        uint32
	PointerToRawData     uint32
	PointerToRelocations uint32
	PointerToLineNumbers uint32
	NumberOfRelocations  uint16
	NumberOfLineNumbers  uint16
	Characteristics      uint32
}

func (r rawSectionHeader) header() SectionHeader {
	return SectionHeader{
		Name:                 strings.TrimRight(string(r.Name[:]), "\x00"),
		VirtualSize:          r.VirtualSize,
		VirtualAddress:       r.VirtualAddress,
		SizeOfRawData:        r.SizeOfRawData,
		PointerToRawData:     r.PointerToRawData,
		PointerToRelocations: r.PointerToRelocations,
		PointerToLineNumbers: r.PointerToLineNumbers,
		NumberOfRelocations:  r.NumberOfRelocations,
		NumberOfLineNumbers:  r.NumberOfLineNumbers,
		Characteristics:      r.Characteristics,
	}
}

func (s SectionHeader) raw() rawSectionHeader {
	r := rawSectionHeader{
		VirtualSize:          s.VirtualSize,
		VirtualAddress:       s.VirtualAddress,
		SizeOfRawData:        s.SizeOfRawData,
		PointerToRawData:     s.PointerToRawData,
		PointerToRelocations: s.PointerToRelocations,
		PointerToLineNumbers: s.PointerToLineNumbers,
		NumberOfRelocations:  s.NumberOfRelocations,
		NumberOfLineNumbers:  s.NumberOfLineNumbers,
		Characteristics:      s.Characteristics,
	}
	copy(r.Name[:], s.Name)
	return r
}

// rawEnd is the file offset just past the section's raw data.
func (s SectionHeader) rawEnd() uint64 {
	return uint64(s.PointerToRawData) + uint64(s.SizeOfRawData)
}

// virtualEnd is the RVA just past the section in memory. A VirtualSize of 0
// means SizeOfRawData.
func (s SectionHeader) virtualEnd() uint64 {
	size := s.VirtualSize
	if size == 0 {
		size = s.SizeOfRawData
	}
	return uint64(s.VirtualAddress) + uint64(size)
}

// alignUp rounds n up to a multiple of align, a power of two.
func alignUp(n, align uint64) uint64 {
	return (n + align - 1) &^ (align - 1)
}

func isPowerOfTwo(n uint32) bool {
	return n != 0 && n&(n-1) == 0
}
