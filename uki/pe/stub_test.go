package pe

import (
	"encoding/binary"
	"os"
	"testing"
)

// systemdStub is where Debian's systemd-boot-efi package installs the stub.
const systemdStub = "/usr/lib/systemd/boot/efi/linuxx64.efi.stub"

// readSystemdStub returns the real systemd-stub, or skips the test.
func readSystemdStub(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile(systemdStub)
	if err != nil {
		t.Skipf("systemd-stub not installed (%v): apt-get install systemd-boot-efi to run this test", err)
	}
	return b
}

// tinySBAT is the .sbat of the tiny stub, shaped like systemd-stub 252's.
const tinySBAT = sbatHeader + "\ntiny,1,Tiny Stub,tiny,1,https://example.invalid/\n\x00"

// tinyStubOptions shape a tiny stub.
type tinyStubOptions struct {
	lfanew  int  // offset of the PE header; a larger one leaves less room for sections
	symbols bool // append a COFF symbol table, as the unstripped 252 stub has
}

// tinyStub returns a minimal PE32+ EFI application laid out like
// systemd-stub 252: SectionAlignment and FileAlignment 0x200, 0x400 bytes
// of headers, .text, .sbat (with 0x100 bytes of address space before the
// next section) and .sdmagic.
func tinyStub(opts tinyStubOptions) []byte {
	sections := []SectionHeader{
		{Name: ".text", VirtualSize: 0x10, VirtualAddress: 0x1000, SizeOfRawData: 0x200, PointerToRawData: 0x400,
			Characteristics: SectionCntCode | SectionMemExecute | SectionMemRead},
		{Name: ".sbat", VirtualSize: uint32(len(tinySBAT)), VirtualAddress: 0x1200, SizeOfRawData: 0x200, PointerToRawData: 0x600,
			Characteristics: SectionCntInitializedData | SectionMemRead},
		{Name: ".sdmagic", VirtualSize: 0x20, VirtualAddress: 0x1300, SizeOfRawData: 0x200, PointerToRawData: 0x800,
			Characteristics: SectionCntInitializedData | SectionMemRead},
	}
	b := make([]byte, 0xa00)
	copy(b, "MZ")
	binary.LittleEndian.PutUint32(b[0x3c:], uint32(opts.lfanew))
	copy(b[opts.lfanew:], "PE\x00\x00")
	fh := FileHeader{Machine: MachineAMD64, NumberOfSections: uint16(len(sections)),
		SizeOfOptionalHeader: optionalFixedLen + maxDirectories*dataDirectoryLen, Characteristics: 0x206}
	if opts.symbols {
		fh.PointerToSymbolTable, fh.NumberOfSymbols = 0xa00, 1
		// One zeroed symbol, then a string table holding only its own size.
		b = append(b, make([]byte, symbolLen)...)
		b = binary.LittleEndian.AppendUint32(b, 4)
	}
	oh := OptionalHeader64{Magic: magicPE32Plus, SizeOfCode: 0x200, SizeOfInitializedData: 0x400,
		AddressOfEntryPoint: 0x1000, BaseOfCode: 0x1000, SectionAlignment: 0x200, FileAlignment: 0x200,
		SizeOfImage: 0x1400, SizeOfHeaders: 0x400, Subsystem: 10, NumberOfRvaAndSizes: maxDirectories}
	off := opts.lfanew + 4
	off += mustEncode(b[off:], fh)
	off += mustEncode(b[off:], oh)
	off += maxDirectories * dataDirectoryLen
	for _, s := range sections {
		off += mustEncode(b[off:], s.raw())
	}
	b[0x400] = 0xc3 // ret
	copy(b[0x600:], tinySBAT)
	copy(b[0x800:], "#### LoaderInfo: tiny stub ####")
	UpdateChecksum(b, opts.lfanew+4+fileHeaderLen+offCheckSum)
	return b
}

func mustEncode(b []byte, v any) int {
	n, err := binary.Encode(b, binary.LittleEndian, v)
	if err != nil {
		panic(err)
	}
	return n
}

// defaultTinyStub is the tiny stub that most tests use.
func defaultTinyStub() []byte {
	return tinyStub(tinyStubOptions{lfanew: 0x80, symbols: true})
}

// ukiSections are the sections of the test UKIs, in pipeline order.
func ukiSections() []Section {
	initrd := make([]byte, 0x1234)
	for i := range initrd {
		initrd[i] = byte(i * 7)
	}
	return []Section{
		{Name: ".osrel", Data: []byte("ID=kiln\nNAME=Kiln\nVERSION_ID=0.0.0-test\n")},
		{Name: ".cmdline", Data: []byte("console=ttyS0 panic=10 slab_nomerge pti=on")},
		{Name: ".uname", Data: []byte("6.1.0-kiln")},
		{Name: ".sbat", Data: []byte("kiln,1,Kiln,kiln,0.0.0-test,https://github.com/kiln-os/kiln\n")},
		{Name: ".linux", Data: []byte("MZ not really a kernel")},
		{Name: ".initrd", Data: initrd},
	}
}

// testTimestamp is the SOURCE_DATE_EPOCH of the test UKIs (2024-01-02T03:04:05Z).
const testTimestamp = 1704164645
