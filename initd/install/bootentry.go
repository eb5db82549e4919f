package install

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/kiln-os/kiln/bootloader/efivar"
	"github.com/kiln-os/kiln/internal/guid"
)

// BootFilePath is the file the boot entry starts: the removable-media path, which holds
// systemd-boot on Kiln's ESP (bootloader.BootX64Path) and which firmware also finds
// without any entry.
const BootFilePath = `\EFI\BOOT\BOOTX64.EFI`

// bootVarName matches the Boot#### variables (UEFI 2.10 §3.3: four upper-case hex
// digits) in an efivarfs directory.
var bootVarName = regexp.MustCompile(`^Boot([0-9A-F]{4})-` + regexp.QuoteMeta(efivar.GlobalVariable.String()) + `$`)

// BootEntry is the ESP a new boot entry points at: Result.ESP in 512-byte sectors.
type BootEntry struct {
	Description     string // e.g. "Kiln"
	PartitionNumber uint32 // 1
	StartLBA        uint64
	SizeLBA         uint64
	PartitionGUID   guid.GUID
}

// SetBootNext makes the firmware boot the installed disk next and from then on, as OS
// installers do, in efivarfs directory dir:
//
//  1. Boot#### is a load option for BootFilePath on the ESP; the number is that of an
//     existing option with the same description and file path (a previous install's,
//     now pointing at a partition that is gone), else the lowest free one;
//  2. BootOrder gets that number first (and not twice);
//  3. BootNext is that number.
//
// It returns the number. Each variable is one efivar.Write; a cut between them leaves a
// valid, if unused, Boot####, and the removable-media path still boots the disk.
func SetBootNext(dir string, e BootEntry) (uint16, error) {
	opt, err := efivar.LoadOption{
		Attributes:  efivar.LoadOptionActive,
		Description: e.Description,
		Disk:        efivar.HardDrive{PartitionNumber: e.PartitionNumber, Start: e.StartLBA, Size: e.SizeLBA, PartitionGUID: e.PartitionGUID},
		FilePath:    BootFilePath,
	}.MarshalBinary()
	if err != nil {
		return 0, err
	}
	num, err := pickBootNumber(dir, e.Description)
	if err != nil {
		return 0, err
	}
	name := fmt.Sprintf("Boot%04X", num)
	if err := efivar.Write(dir, name, efivar.GlobalVariable, efivar.AttrsBootOption, opt); err != nil {
		return 0, fmt.Errorf("install: %s: %w", name, err)
	}
	order, err := bootOrder(dir)
	if err != nil {
		return 0, err
	}
	order = append([]uint16{num}, slices.DeleteFunc(order, func(n uint16) bool { return n == num })...)
	if err := efivar.Write(dir, "BootOrder", efivar.GlobalVariable, efivar.AttrsBootOption, encodeUint16s(order)); err != nil {
		return 0, fmt.Errorf("install: BootOrder: %w", err)
	}
	if err := efivar.Write(dir, "BootNext", efivar.GlobalVariable, efivar.AttrsBootOption, encodeUint16s([]uint16{num})); err != nil {
		return 0, fmt.Errorf("install: BootNext: %w", err)
	}
	return num, nil
}

// pickBootNumber returns the number of the Boot#### with this description and
// BootFilePath, else the lowest unused one. An option that does not parse is someone
// else's and is left alone.
func pickBootNumber(dir, desc string) (uint16, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	used := map[uint16]bool{}
	for _, de := range entries {
		m := bootVarName.FindStringSubmatch(de.Name())
		if m == nil {
			continue
		}
		n, _ := strconv.ParseUint(m[1], 16, 16)
		used[uint16(n)] = true
		_, data, err := efivar.Read(dir, "Boot"+m[1], efivar.GlobalVariable)
		if err != nil {
			return 0, err
		}
		if o, err := efivar.ParseLoadOption(data); err == nil && o.Description == desc && strings.EqualFold(o.FilePath, BootFilePath) {
			return uint16(n), nil
		}
	}
	for n := 0; n <= 0xffff; n++ {
		if !used[uint16(n)] {
			return uint16(n), nil
		}
	}
	return 0, errors.New("install: all 65536 Boot#### numbers are in use")
}

// bootOrder reads BootOrder (an array of UINT16); a missing one is empty.
func bootOrder(dir string) ([]uint16, error) {
	_, data, err := efivar.Read(dir, "BootOrder", efivar.GlobalVariable)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if len(data)%2 != 0 {
		return nil, fmt.Errorf("%w: BootOrder has odd length %d", efivar.ErrVariable, len(data))
	}
	order := make([]uint16, len(data)/2)
	for i := range order {
		order[i] = binary.LittleEndian.Uint16(data[2*i:])
	}
	return order, nil
}

func encodeUint16s(v []uint16) []byte {
	b := make([]byte, 0, 2*len(v))
	for _, n := range v {
		b = binary.LittleEndian.AppendUint16(b, n)
	}
	return b
}

// Entry returns the boot entry for an installed disk: its ESP in 512-byte sectors.
func (r *Result) Entry(description string) BootEntry {
	return BootEntry{
		Description: description, PartitionNumber: 1,
		StartLBA: uint64(r.ESP.Offset / sector), SizeLBA: uint64(r.ESP.Size / sector), PartitionGUID: r.ESP.GUID,
	}
}
