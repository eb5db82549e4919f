// Package bootmedium says what the firmware booted this machine from: its installed disk,
// a live medium (the ISO, on a CD or a stick), or the network. machined decides from it
// whether to use the disks (DESIGN.md "Network boot and the lab network": a netbooted node
// runs from RAM, does not bless, and waits for a config) and reports it in
// runtime/BootStatus.
//
// It reads EFI variables only: it must not touch the disks it is asked about.
package bootmedium

import (
	"encoding/binary"
	"fmt"
	"os"
	"strings"
	"unicode/utf16"

	"github.com/kiln-os/kiln/bootloader/efivar"
	"github.com/kiln-os/kiln/internal/guid"
)

// Medium is where the firmware loaded the booted UKI from.
type Medium string

// The media. A live medium (CDROM or Network) runs from RAM and leaves the disks alone
// until an install writes one.
const (
	// Disk: systemd-boot or the stub found the UKI on a GPT partition (an installed disk,
	// or disk.raw written to one).
	Disk Medium = "disk"
	// CDROM: systemd-boot ran from a medium without a GPT partition: the ISO's El Torito
	// image on a CD, or the hybrid ISO written to a stick (its partition is MBR).
	CDROM Medium = "cdrom"
	// Network: the firmware loaded the UKI itself over PXE/TFTP or UEFI HTTP Boot.
	Network Medium = "network"
	// Unknown: no UEFI evidence (a direct kernel boot, or firmware without the variables).
	Unknown Medium = "unknown"
)

// Live reports whether m is a medium the node runs from without its disks.
func (m Medium) Live() bool { return m == CDROM || m == Network }

// Evidence is the medium and why.
type Evidence struct {
	Medium Medium
	// Reason names the variables that decided, for the event and the log.
	Reason string
	// PartUUID is LoaderDevicePartUUID (lower case) when the medium is Disk.
	PartUUID string
}

// Detect reads the evidence from an efivarfs directory (efivar.EfivarsDir on a node), in
// order of strength:
//
//  1. LoaderDevicePartUUID: systemd-boot (or systemd-stub, when the firmware started the
//     UKI itself) sets it to the GPT partition it was loaded from (UAPI Boot Loader
//     Interface). Present means Disk.
//  2. BootCurrent's load option: a device path with a MAC, IPv4, IPv6 or URI node (UEFI
//     2.10 §10.3.4, messaging subtypes 11, 12, 13, 24) is a network boot option (OVMF's
//     "UEFI PXEv4", "UEFI HTTPv4"). Network.
//  3. LoaderEntrySelected without a partition UUID: systemd-boot ran from a medium that
//     has no GPT partition. Kiln ships systemd-boot on no such medium but the ISO. CDROM.
//  4. StubInfo alone: systemd-stub ran with no boot loader before it and no partition
//     under it; Kiln's only such path is a netboot (the firmware cannot run a UKI from a
//     CD without a loader: the ISO's default path is systemd-boot). Network.
func Detect(dir string) Evidence {
	if _, err := os.Stat(dir); err != nil {
		return Evidence{Medium: Unknown, Reason: fmt.Sprintf("no EFI variables at %s: not a UEFI boot", dir)}
	}
	if uuid, err := readString(dir, "LoaderDevicePartUUID", efivar.LoaderVendor); err == nil && uuid != "" {
		return Evidence{Medium: Disk, Reason: "LoaderDevicePartUUID names the boot partition", PartUUID: strings.ToLower(uuid)}
	}
	if number, option, err := currentOption(dir); err == nil && option.Network != "" {
		return Evidence{Medium: Network, Reason: fmt.Sprintf("BootCurrent is Boot%04X %q, a %s boot option", number, option.Description, option.Network)}
	}
	if _, _, err := efivar.Read(dir, "LoaderEntrySelected", efivar.LoaderVendor); err == nil {
		return Evidence{Medium: CDROM, Reason: "systemd-boot ran from a medium without a GPT partition"}
	}
	if _, _, err := efivar.Read(dir, "StubInfo", efivar.LoaderVendor); err == nil {
		return Evidence{Medium: Network, Reason: "the firmware started the UKI itself, from no partition"}
	}
	return Evidence{Medium: Unknown, Reason: "no boot loader or stub variables"}
}

// currentOption is the load option the firmware booted (BootCurrent's Boot####).
func currentOption(dir string) (number uint16, option efivar.LoadOption, err error) {
	_, current, err := efivar.Read(dir, "BootCurrent", efivar.GlobalVariable)
	if err != nil {
		return 0, option, err
	}
	if len(current) != 2 {
		return 0, option, fmt.Errorf("%w: BootCurrent holds %d bytes, want 2", efivar.ErrVariable, len(current))
	}
	number = binary.LittleEndian.Uint16(current)
	name := fmt.Sprintf("Boot%04X", number)
	_, data, err := efivar.Read(dir, name, efivar.GlobalVariable)
	if err != nil {
		return 0, option, err
	}
	if option, err = efivar.ParseLoadOption(data); err != nil {
		return 0, option, fmt.Errorf("%s: %w", name, err)
	}
	return number, option, nil
}

func readString(dir, name string, vendor guid.GUID) (string, error) {
	_, data, err := efivar.Read(dir, name, vendor)
	if err != nil {
		return "", err
	}
	if len(data)%2 != 0 {
		return "", fmt.Errorf("%w: %s: UTF-16 string of odd length %d", efivar.ErrVariable, name, len(data))
	}
	u := make([]uint16, 0, len(data)/2)
	for i := 0; i+1 < len(data); i += 2 {
		c := binary.LittleEndian.Uint16(data[i:])
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	return string(utf16.Decode(u)), nil
}
