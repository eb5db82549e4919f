package bootmedium

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/kiln-os/kiln/bootloader/efivar"
	"github.com/kiln-os/kiln/internal/guid"
)

func writeVar(t *testing.T, dir, name string, vendor guid.GUID, data []byte) {
	t.Helper()
	b := binary.LittleEndian.AppendUint32(nil, 0x7) // NV+BS+RT
	if err := os.WriteFile(filepath.Join(dir, name+"-"+vendor.String()), append(b, data...), 0o644); err != nil {
		t.Fatal(err)
	}
}

func utf16z(s string) []byte {
	var b []byte
	for _, c := range utf16.Encode([]rune(s)) {
		b = binary.LittleEndian.AppendUint16(b, c)
	}
	return append(b, 0, 0)
}

func node(typ, sub byte, body []byte) []byte {
	b := []byte{typ, sub}
	b = binary.LittleEndian.AppendUint16(b, uint16(4+len(body)))
	return append(b, body...)
}

// encodeOption encodes an EFI_LOAD_OPTION the way OVMF writes its boot options.
func encodeOption(desc string, nodes ...[]byte) []byte {
	var path []byte
	for _, n := range nodes {
		path = append(path, n...)
	}
	path = append(path, node(0x7f, 0xff, nil)...)
	b := binary.LittleEndian.AppendUint32(nil, 1) // LOAD_OPTION_ACTIVE
	b = binary.LittleEndian.AppendUint16(b, uint16(len(path)))
	b = append(b, utf16z(desc)...)
	return append(b, path...)
}

var (
	pciRoot = node(0x02, 0x01, []byte{0xd0, 0x41, 0x03, 0x0a, 0, 0, 0, 0})
	pci     = node(0x01, 0x01, []byte{0, 3})
	mac     = node(0x03, 11, append([]byte{0x52, 0x54, 0, 0x12, 0x34, 0x56}, make([]byte, 27)...))
	ipv4    = node(0x03, 12, make([]byte, 23))
	uri     = node(0x03, 24, nil)
	sata    = node(0x03, 18, []byte{0, 0, 0xff, 0xff, 0, 0})
)

func TestDetect(t *testing.T) {
	bootCurrent := func(n uint16) []byte { return binary.LittleEndian.AppendUint16(nil, n) }
	for _, tc := range []struct {
		name   string
		vars   func(t *testing.T, dir string)
		want   Medium
		reason string
	}{
		{"installed disk", func(t *testing.T, dir string) {
			writeVar(t, dir, "LoaderDevicePartUUID", efivar.LoaderVendor, utf16z("6A4F7C3B-0D1E-4B8A-9C2D-1E2F3A4B5C6D"))
			writeVar(t, dir, "LoaderEntrySelected", efivar.LoaderVendor, utf16z("kiln-0.1.0.efi"))
			writeVar(t, dir, "StubInfo", efivar.LoaderVendor, utf16z("systemd-stub 252"))
		}, Disk, "LoaderDevicePartUUID"},
		{"PXE", func(t *testing.T, dir string) {
			writeVar(t, dir, "BootCurrent", efivar.GlobalVariable, bootCurrent(0x0003))
			writeVar(t, dir, "Boot0003", efivar.GlobalVariable, encodeOption("UEFI PXEv4 (MAC:525400123456)", pciRoot, pci, mac, ipv4))
			writeVar(t, dir, "StubInfo", efivar.LoaderVendor, utf16z("systemd-stub 252"))
		}, Network, `Boot0003 "UEFI PXEv4 (MAC:525400123456)", a MAC boot option`},
		{"HTTP boot, URI first", func(t *testing.T, dir string) {
			writeVar(t, dir, "BootCurrent", efivar.GlobalVariable, bootCurrent(0x000A))
			writeVar(t, dir, "Boot000A", efivar.GlobalVariable, encodeOption("UEFI HTTPv4", pciRoot, pci, uri))
		}, Network, "Boot000A"},
		{"ISO on a CD: systemd-boot, no partition", func(t *testing.T, dir string) {
			writeVar(t, dir, "BootCurrent", efivar.GlobalVariable, bootCurrent(1))
			writeVar(t, dir, "Boot0001", efivar.GlobalVariable, encodeOption("UEFI QEMU DVD-ROM", pciRoot, pci, sata))
			writeVar(t, dir, "LoaderEntrySelected", efivar.LoaderVendor, utf16z("kiln-0.1.0.efi"))
			writeVar(t, dir, "StubInfo", efivar.LoaderVendor, utf16z("systemd-stub 252"))
		}, CDROM, "without a GPT partition"},
		{"stub alone, BootCurrent unreadable", func(t *testing.T, dir string) {
			writeVar(t, dir, "BootCurrent", efivar.GlobalVariable, []byte{1})
			writeVar(t, dir, "StubInfo", efivar.LoaderVendor, utf16z("systemd-stub 252"))
		}, Network, "started the UKI itself"},
		{"truncated load option is no evidence", func(t *testing.T, dir string) {
			writeVar(t, dir, "BootCurrent", efivar.GlobalVariable, bootCurrent(2))
			writeVar(t, dir, "Boot0002", efivar.GlobalVariable, encodeOption("PXE", pciRoot, mac)[:20])
			writeVar(t, dir, "LoaderEntrySelected", efivar.LoaderVendor, utf16z("kiln-0.1.0.efi"))
		}, CDROM, "systemd-boot"},
		{"efivarfs without loader variables", func(t *testing.T, dir string) {}, Unknown, "no boot loader"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tc.vars(t, dir)
			got := Detect(dir)
			if got.Medium != tc.want || !strings.Contains(got.Reason, tc.reason) {
				t.Errorf("Detect = %+v, want %s with a reason naming %q", got, tc.want, tc.reason)
			}
			if got.Medium.Live() != (tc.want == CDROM || tc.want == Network) {
				t.Errorf("%s.Live() = %v", got.Medium, got.Medium.Live())
			}
		})
	}
	if got := Detect(filepath.Join(t.TempDir(), "absent")); got.Medium != Unknown || !strings.Contains(got.Reason, "not a UEFI boot") {
		t.Errorf("no efivarfs: %+v", got)
	}
	dir := t.TempDir()
	writeVar(t, dir, "LoaderDevicePartUUID", efivar.LoaderVendor, utf16z("6A4F7C3B-0D1E-4B8A-9C2D-1E2F3A4B5C6D"))
	if got := Detect(dir); got.PartUUID != "6a4f7c3b-0d1e-4b8a-9c2d-1e2f3a4b5c6d" {
		t.Errorf("PartUUID %q, want the lower-case UUID", got.PartUUID)
	}
}
