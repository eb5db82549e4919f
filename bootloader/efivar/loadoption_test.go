package efivar

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/kiln-os/kiln/internal/guid"
)

// TestLoadOptionGolden checks the encoding byte by byte against the layout of UEFI 2.10
// §3.1.3 (EFI_LOAD_OPTION), §10.3.5.1 (Hard Drive Media Device Path), §10.3.5.4 (File
// Path Media Device Path) and §10.3.1 (End Entire Device Path), assembled by hand
// below, field by field in the specification's order.
func TestLoadOptionGolden(t *testing.T) {
	o := LoadOption{
		Attributes:  LoadOptionActive,
		Description: "Kiln",
		Disk: HardDrive{PartitionNumber: 1, Start: 2048, Size: 1048576,
			PartitionGUID: guid.MustParse("01234567-89ab-cdef-0011-223344556677")},
		FilePath: `\EFI\BOOT\BOOTX64.EFI`,
	}
	got, err := o.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var w bytes.Buffer
	field := func(s string) {
		b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
		if err != nil {
			t.Fatal(err)
		}
		w.Write(b)
	}
	field("01000000")                                                         // Attributes (UINT32): LOAD_OPTION_ACTIVE
	field("5e00")                                                             // FilePathListLength (UINT16): 42 + (4+44) + 4 = 94
	field("4b00 6900 6c00 6e00 0000")                                         // Description: "Kiln" NUL, UTF-16LE
	field("04 01 2a00")                                                       // Hard Drive: Type 4 (media), SubType 1, Length 42
	field("01000000")                                                         //   PartitionNumber (UINT32): 1
	field("0008000000000000")                                                 //   PartitionStart (UINT64): 2048
	field("0000100000000000")                                                 //   PartitionSize (UINT64): 1048576
	field("67452301 ab89 efcd 0011 223344556677")                             //   PartitionSignature: the GUID, first three fields little-endian
	field("02")                                                               //   PartitionFormat: 0x02, GPT
	field("02")                                                               //   SignatureType: 0x02, GUID
	field("04 04 3000")                                                       // File Path: Type 4, SubType 4, Length 4 + 44
	field("5c00 4500 4600 4900")                                              //   PathName: \EFI
	field("5c00 4200 4f00 4f00 5400")                                         //   \BOOT
	field("5c00 4200 4f00 4f00 5400 5800 3600 3400 2e00 4500 4600 4900 0000") // \BOOTX64.EFI NUL
	field("7f ff 0400")                                                       // End Entire Device Path: 0x7f/0xff, Length 4
	if !bytes.Equal(got, w.Bytes()) {
		t.Errorf("encoding:\n got %x\nwant %x", got, w.Bytes())
	}
	back, err := ParseLoadOption(got)
	if err != nil || back != o {
		t.Errorf("ParseLoadOption = %+v, %v", back, err)
	}
}

func TestLoadOptionRefusesBadPaths(t *testing.T) {
	for _, p := range []string{"", "EFI\\BOOT\\X.EFI", "/EFI/BOOT/X.EFI", "\\EFI\x00"} {
		if _, err := (LoadOption{FilePath: p}).MarshalBinary(); !errors.Is(err, ErrLoadOption) {
			t.Errorf("%q: %v", p, err)
		}
	}
}

func FuzzParseLoadOption(f *testing.F) {
	good, err := LoadOption{Attributes: 1, Description: "Kiln", FilePath: `\EFI\BOOT\BOOTX64.EFI`,
		Disk: HardDrive{1, 2048, 4096, guid.MustParse("01234567-89ab-cdef-0011-223344556677")}}.MarshalBinary()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:20])
	f.Add([]byte{1, 0, 0, 0, 0xff, 0xff, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := ParseLoadOption(b)
		if err != nil || o.FilePath == "" || strings.ContainsAny(o.FilePath, "/\x00") || o.FilePath[0] != '\\' {
			return
		}
		again, err := o.MarshalBinary()
		if err != nil {
			t.Fatalf("re-encoding %+v: %v", o, err)
		}
		if back, err := ParseLoadOption(again); err != nil || back != o {
			t.Errorf("round trip %+v -> %+v, %v", o, back, err)
		}
	})
}

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	if err := Write(dir, "BootNext", GlobalVariable, AttrsBootOption, []byte{1, 0, 2, 0}); err != nil {
		t.Fatal(err)
	}
	if err := Write(dir, "BootNext", GlobalVariable, AttrsBootOption, []byte{3, 0}); err != nil {
		t.Fatal(err)
	}
	attrs, data, err := Read(dir, "BootNext", GlobalVariable)
	if err != nil || attrs != AttrsBootOption || !bytes.Equal(data, []byte{3, 0}) {
		t.Errorf("Read = %#x %x %v, want the second value alone", attrs, data, err)
	}
	if err := Write(dir, "../x", GlobalVariable, AttrsBootOption, nil); err == nil {
		t.Error("a name with a slash was written")
	}
	if err := Write(dir, "db", ImageSecurityDatabase, AttrsSecureBoot|AttrAppendWrite, nil); err == nil {
		t.Error("an append write was accepted")
	}
}

// TestWriteClearsImmutable needs CAP_LINUX_IMMUTABLE (root) and a file system with
// inode flags (ext4, xfs, btrfs; not tmpfs) to set the flag efivarfs sets.
func TestWriteClearsImmutable(t *testing.T) {
	dir := t.TempDir()
	if err := Write(dir, "BootOrder", GlobalVariable, AttrsBootOption, []byte{0, 0}); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dir, "BootOrder-"+GlobalVariable.String()))
	if err != nil {
		t.Fatal(err)
	}
	flags, err := unix.IoctlGetUint32(int(f.Fd()), unix.FS_IOC_GETFLAGS)
	if err == nil {
		err = unix.IoctlSetPointerInt(int(f.Fd()), unix.FS_IOC_SETFLAGS, int(flags|fsImmutable))
	}
	f.Close()
	if err != nil {
		t.Skipf("cannot set the immutable flag here (needs root and ext4/xfs/btrfs): %v", err)
	}
	if err := Write(dir, "BootOrder", GlobalVariable, AttrsBootOption, []byte{1, 0}); err != nil {
		t.Fatal(err)
	}
	if _, data, err := Read(dir, "BootOrder", GlobalVariable); err != nil || !bytes.Equal(data, []byte{1, 0}) {
		t.Errorf("Read = %x, %v", data, err)
	}
}

// An option whose device path has a network node (OVMF's "UEFI PXEv4": PciRoot, Pci,
// MAC, IPv4) says so; a disk option does not.
func TestParseLoadOptionNamesNetworkNodes(t *testing.T) {
	node := func(typ, sub byte, body int) []byte {
		return append([]byte{typ, sub, byte(4 + body), 0}, make([]byte, body)...)
	}
	for _, tc := range []struct {
		nodes [][]byte
		want  string
	}{
		{[][]byte{node(2, 1, 8), node(1, 1, 2), node(3, 11, 33), node(3, 12, 23)}, "MAC"},
		{[][]byte{node(2, 1, 8), node(1, 1, 2), node(3, 24, 0)}, "URI"},
		{[][]byte{node(2, 1, 8), node(1, 1, 2), node(3, 18, 6)}, ""},
	} {
		var path []byte
		for _, n := range tc.nodes {
			path = append(path, n...)
		}
		path = append(path, 0x7f, 0xff, 4, 0)
		b := append([]byte{1, 0, 0, 0, byte(len(path)), byte(len(path) >> 8)}, 'x', 0, 0, 0)
		o, err := ParseLoadOption(append(b, path...))
		if err != nil || o.Network != tc.want {
			t.Errorf("Network %q, %v; want %q", o.Network, err, tc.want)
		}
	}
}
