package install

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/kiln-os/kiln/bootloader/efivar"
	"github.com/kiln-os/kiln/internal/guid"
)

func setVar(t *testing.T, dir, name string, data []byte) {
	t.Helper()
	if err := efivar.Write(dir, name, efivar.GlobalVariable, efivar.AttrsBootOption, data); err != nil {
		t.Fatal(err)
	}
}

func option(t *testing.T, desc, path string) []byte {
	t.Helper()
	b, err := efivar.LoadOption{Attributes: efivar.LoadOptionActive, Description: desc, FilePath: path,
		Disk: efivar.HardDrive{PartitionNumber: 1, Start: 2048, Size: 2048, PartitionGUID: guid.MustParse("11111111-2222-3333-4444-555555555555")}}.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readVar(t *testing.T, dir, name string) []byte {
	t.Helper()
	attrs, data, err := efivar.Read(dir, name, efivar.GlobalVariable)
	if err != nil {
		t.Fatal(err)
	}
	if attrs != efivar.AttrsBootOption {
		t.Errorf("%s attributes %#x", name, attrs)
	}
	return data
}

func TestSetBootNext(t *testing.T) {
	entry := BootEntry{Description: "Kiln", PartitionNumber: 1, StartLBA: 2048, SizeLBA: 1048576,
		PartitionGUID: guid.MustParse("01234567-89ab-cdef-0011-223344556677")}
	for _, tc := range []struct {
		name      string
		setup     func(t *testing.T, dir string)
		wantNum   uint16
		wantOrder []byte
	}{
		{"empty firmware", func(*testing.T, string) {}, 0, []byte{0, 0}},
		{"OVMF's entries", func(t *testing.T, dir string) {
			setVar(t, dir, "Boot0000", option(t, "UiApp", `\UiApp.efi`))
			setVar(t, dir, "Boot0001", option(t, "UEFI QEMU DVD-ROM", `\EFI\BOOT\BOOTX64.EFI`))
			setVar(t, dir, "Boot0003", []byte("garbage"))
			setVar(t, dir, "BootOrder", []byte{1, 0, 0, 0, 3, 0})
		}, 2, []byte{2, 0, 1, 0, 0, 0, 3, 0}},
		{"a previous install's entry", func(t *testing.T, dir string) {
			setVar(t, dir, "Boot0000", option(t, "UiApp", `\UiApp.efi`))
			setVar(t, dir, "Boot0004", option(t, "Kiln", `\EFI\BOOT\BOOTX64.EFI`))
			setVar(t, dir, "BootOrder", []byte{0, 0, 4, 0})
		}, 4, []byte{4, 0, 0, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tc.setup(t, dir)
			num, err := SetBootNext(dir, entry)
			if err != nil {
				t.Fatal(err)
			}
			if num != tc.wantNum {
				t.Errorf("Boot%04X, want Boot%04X", num, tc.wantNum)
			}
			if got := readVar(t, dir, "BootOrder"); !bytes.Equal(got, tc.wantOrder) {
				t.Errorf("BootOrder %x, want %x", got, tc.wantOrder)
			}
			if got := readVar(t, dir, "BootNext"); !bytes.Equal(got, []byte{byte(num), byte(num >> 8)}) {
				t.Errorf("BootNext %x", got)
			}
			opt, err := efivar.ParseLoadOption(readVar(t, dir, fmtBoot(num)))
			if err != nil {
				t.Fatal(err)
			}
			want := efivar.LoadOption{Attributes: efivar.LoadOptionActive, Description: "Kiln", FilePath: BootFilePath,
				Disk: efivar.HardDrive{PartitionNumber: 1, Start: 2048, Size: 1048576, PartitionGUID: entry.PartitionGUID}}
			if opt != want {
				t.Errorf("Boot%04X = %+v", num, opt)
			}
			files, _ := filepath.Glob(filepath.Join(dir, "Boot*"))
			if _, err := os.Stat(filepath.Join(dir, "BootOrder-"+efivar.GlobalVariable.String())); err != nil || len(files) == 0 {
				t.Errorf("variables %q", files)
			}
		})
	}
}

func fmtBoot(n uint16) string { return fmt.Sprintf("Boot%04X", n) }

// TestResultEntry: the boot entry of an install points at the ESP in 512-byte sectors.
func TestResultEntry(t *testing.T) {
	res := &Result{}
	res.ESP.Offset, res.ESP.Size, res.ESP.GUID = 1<<20, 512<<20, guid.MustParse("01234567-89ab-cdef-0011-223344556677")
	e := res.Entry("Kiln")
	if e.StartLBA != 2048 || e.SizeLBA != 1048576 || e.PartitionNumber != 1 || e.PartitionGUID != res.ESP.GUID {
		t.Errorf("%+v", e)
	}
}
