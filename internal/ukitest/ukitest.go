// Package ukitest builds small signed UKIs and a fake node (an ESP directory and an
// efivarfs directory) for the tests of initd/upgrade and of its wiring (initd/machineapi,
// kilnctl): small images on a tiny PE stub, signed with
// uki/authenticode's throw-away test keys. It is test support only: nothing outside
// _test.go files imports it, and it writes only under the directories tests give it.
package ukitest

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/kiln-os/kiln/bootloader/efivar"
	"github.com/kiln-os/kiln/internal/guid"
	"github.com/kiln-os/kiln/internal/testpki"
	"github.com/kiln-os/kiln/kernel/kspp"
	"github.com/kiln-os/kiln/uki/authenticode"
	"github.com/kiln-os/kiln/uki/pe"
)

// Paths on the ESP (initd/upgrade.LinuxDir and DBAuthESP; repeated so that this package
// does not import the package whose tests may one day use it).
const (
	LinuxDir  = "EFI/Linux"
	DBAuthESP = "loader/keys/auto/db.auth"
)

// PCR public keys of test images: the running one and another.
var (
	PCRKeyA = []byte("-----BEGIN PUBLIC KEY-----\nA\n-----END PUBLIC KEY-----\n")
	PCRKeyB = []byte("-----BEGIN PUBLIC KEY-----\nB\n-----END PUBLIC KEY-----\n")
	owner   = guid.MustParse("8c5b1a3e-2f44-4d8e-9b1e-6a0f3c2d1e00")
)

// keyDir holds uki/authenticode's throw-away db ("db") and foreign ("other") keys.
func keyDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "uki", "authenticode", "testdata")
}

// UKI describes a test image.
type UKI struct {
	Key     string // "db" (enrolled) or "other" (foreign)
	ID      string // .osrel ID
	Version string // .osrel VERSION_ID; "" leaves it out
	PCRKey  []byte // nil leaves .pcrpkey out
	Cmdline string
}

// Kiln is a good image of version: signed with db, ID=kiln, PCRKeyA, a KSPP command line.
func Kiln(version string) UKI {
	return UKI{Key: "db", ID: "kiln", Version: version, PCRKey: PCRKeyA, Cmdline: KSPPCmdline()}
}

// KSPPCmdline passes every required command-line rule of the KSPP table.
func KSPPCmdline() string {
	words := []string{"console=ttyS0", "panic=10"}
	for _, r := range kspp.Of(kspp.Cmdline, kspp.Required) {
		if r.Value == "" {
			words = append(words, r.Name)
		} else {
			words = append(words, r.Name+"="+r.Value)
		}
	}
	return strings.Join(words, " ")
}

// Build assembles u on a tiny PE stub and signs it.
func (u UKI) Build(t testing.TB) []byte {
	t.Helper()
	osrel := fmt.Sprintf("NAME=\"Kiln\"\nID=%s\n", u.ID)
	if u.Version != "" {
		osrel += "VERSION_ID=" + u.Version + "\n"
	}
	sections := []pe.Section{
		{Name: ".osrel", Data: []byte(osrel)},
		{Name: ".cmdline", Data: []byte(u.Cmdline)},
		{Name: ".uname", Data: []byte("6.1.0-kiln")},
	}
	if u.PCRKey != nil {
		sections = append(sections, pe.Section{Name: ".pcrpkey", Data: u.PCRKey})
	}
	sections = append(sections, pe.Section{Name: ".linux", Data: []byte("MZ not really a kernel " + u.Version)},
		pe.Section{Name: ".initrd", Data: make([]byte, 0x900)})
	img, err := pe.Assemble(pe.Options{Stub: tinyStub(t), Sections: sections, Timestamp: 1704164645})
	if err != nil {
		t.Fatal(err)
	}
	k := testpki.LoadPair(t, keyDir(), u.Key)
	signed, err := authenticode.Sign(img, k.Cert, k.Signer)
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

// rawSection is pe.SectionHeader as the file lays it out.
type rawSection struct {
	Name                                                   [8]byte
	VirtualSize, VirtualAddress, SizeOfRawData, PtrRawData uint32
	PtrRelocs, PtrLines                                    uint32
	NumRelocs, NumLines                                    uint16
	Characteristics                                        uint32
}

// tinyStub is a minimal PE32+ EFI application with one .text section, laid out like
// systemd-stub (alignment 0x200, 0x400 bytes of headers).
func tinyStub(t testing.TB) []byte {
	t.Helper()
	const lfanew = 0x80
	b := make([]byte, 0x600)
	copy(b, "MZ")
	binary.LittleEndian.PutUint32(b[0x3c:], lfanew)
	copy(b[lfanew:], "PE\x00\x00")
	fh := pe.FileHeader{Machine: pe.MachineAMD64, NumberOfSections: 1, SizeOfOptionalHeader: 112 + 16*8, Characteristics: 0x206}
	oh := pe.OptionalHeader64{Magic: 0x20b, SizeOfCode: 0x200, AddressOfEntryPoint: 0x1000, BaseOfCode: 0x1000,
		SectionAlignment: 0x200, FileAlignment: 0x200, SizeOfImage: 0x1200, SizeOfHeaders: 0x400, Subsystem: 10, NumberOfRvaAndSizes: 16}
	text := rawSection{Name: [8]byte{'.', 't', 'e', 'x', 't'}, VirtualSize: 0x10, VirtualAddress: 0x1000, SizeOfRawData: 0x200, PtrRawData: 0x400,
		Characteristics: pe.SectionCntCode | pe.SectionMemExecute | pe.SectionMemRead}
	off := lfanew + 4
	for _, v := range []any{fh, oh, [16 * 8]byte{}, text} {
		n, err := binary.Encode(b[off:], binary.LittleEndian, v)
		if err != nil {
			t.Fatal(err)
		}
		off += n
	}
	b[0x400] = 0xc3 // ret
	pe.UpdateChecksum(b, lfanew+4+20+64)
	return b
}

// Node is a fake machine: an ESP directory and an efivarfs directory.
type Node struct {
	ESP, Efivars, Linux string
}

// NewNode makes an ESP holding db.auth and the UKIs named in ukis (file name → version,
// built with Kiln), Secure Boot on with db enrolled.
func NewNode(t testing.TB, ukis map[string]string) *Node {
	t.Helper()
	root := t.TempDir()
	n := &Node{ESP: filepath.Join(root, "esp"), Efivars: filepath.Join(root, "efivars")}
	n.Linux = filepath.Join(n.ESP, LinuxDir)
	for _, d := range []string{n.Linux, filepath.Join(n.ESP, filepath.Dir(DBAuthESP)), n.Efivars} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	db := testpki.LoadPair(t, keyDir(), "db")
	esl, err := efivar.SignatureList{Type: efivar.CertX509, Signatures: []efivar.SignatureData{{Owner: owner, Data: db.Cert.Raw}}}.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	auth, err := efivar.AuthVariable("db", efivar.ImageSecurityDatabase, efivar.AttrsSecureBoot, time.Unix(1704164645, 0).UTC(), esl, db.Cert, db.Signer)
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(n.ESP, DBAuthESP), auth)
	n.SetVar(t, "db", efivar.ImageSecurityDatabase, esl)
	n.SetVar(t, "SecureBoot", efivar.GlobalVariable, []byte{1})
	for name, version := range ukis {
		write(t, filepath.Join(n.Linux, name), Kiln(version).Build(t))
	}
	return n
}

// SetVar writes an efivarfs file: attributes, then value.
func (n *Node) SetVar(t testing.TB, name string, vendor guid.GUID, value []byte) {
	t.Helper()
	b := binary.LittleEndian.AppendUint32(nil, efivar.AttrsSecureBoot)
	write(t, filepath.Join(n.Efivars, name+"-"+vendor.String()), append(b, value...))
}

func write(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Flip returns a copy of image with one bit of the byte at off flipped.
func Flip(image []byte, off int) []byte {
	b := append([]byte(nil), image...)
	b[off] ^= 0x01
	return b
}

// FlipInSection returns a copy of image with one bit flipped inside section's data.
func FlipInSection(t testing.TB, image []byte, section string) []byte {
	t.Helper()
	f, err := pe.Parse(image)
	if err != nil {
		t.Fatal(err)
	}
	s := f.Section(section)
	if s == nil {
		t.Fatalf("the image has no %s section", section)
	}
	return Flip(image, int(s.PointerToRawData)+3)
}
