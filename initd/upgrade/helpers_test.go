package upgrade

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
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

// keyDir holds the throw-away db and other keys of uki/authenticode's tests.
const keyDir = "../../uki/authenticode/testdata"

var (
	pcrKeyA = []byte("-----BEGIN PUBLIC KEY-----\nA\n-----END PUBLIC KEY-----\n")
	pcrKeyB = []byte("-----BEGIN PUBLIC KEY-----\nB\n-----END PUBLIC KEY-----\n")
	owner   = guid.MustParse("8c5b1a3e-2f44-4d8e-9b1e-6a0f3c2d1e00")
)

// rawSection is pe.SectionHeader as the file lays it out.
type rawSection struct {
	Name                                                   [8]byte
	VirtualSize, VirtualAddress, SizeOfRawData, PtrRawData uint32
	PtrRelocs, PtrLines                                    uint32
	NumRelocs, NumLines                                    uint16
	Characteristics                                        uint32
}

// tinyStub is a minimal PE32+ EFI application with one .text section, the
// stand-in for systemd-stub that uki/pe's own tests use (laid out like it:
// alignment 0x200, 0x400 bytes of headers).
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

// uki describes a test image.
type uki struct {
	key     string // "db" or "other"
	id      string // .osrel ID
	version string // .osrel VERSION_ID; "" leaves it out
	pcrkey  []byte // nil leaves .pcrpkey out
	cmdline string
}

func kiln(version string) uki {
	return uki{key: "db", id: "kiln", version: version, pcrkey: pcrKeyA, cmdline: ksppCmdline()}
}

// ksppCmdline is a command line that passes every required rule of the KSPP table.
func ksppCmdline() string {
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

// build assembles u on the tiny stub with uki/pe and signs it with uki/authenticode.
func (u uki) build(t testing.TB) []byte {
	t.Helper()
	osrel := fmt.Sprintf("NAME=\"Kiln\"\nID=%s\n", u.id)
	if u.version != "" {
		osrel += "VERSION_ID=" + u.version + "\n"
	}
	sections := []pe.Section{
		{Name: ".osrel", Data: []byte(osrel)},
		{Name: ".cmdline", Data: []byte(u.cmdline)},
		{Name: ".uname", Data: []byte("6.1.0-kiln")},
	}
	if u.pcrkey != nil {
		sections = append(sections, pe.Section{Name: ".pcrpkey", Data: u.pcrkey})
	}
	sections = append(sections, pe.Section{Name: ".linux", Data: []byte("MZ not really a kernel " + u.version)},
		pe.Section{Name: ".initrd", Data: make([]byte, 0x900)})
	img, err := pe.Assemble(pe.Options{Stub: tinyStub(t), Sections: sections, Timestamp: 1704164645})
	if err != nil {
		t.Fatal(err)
	}
	k := testpki.LoadPair(t, keyDir, u.key)
	signed, err := authenticode.Sign(img, k.Cert, k.Signer)
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

// machine is a fake node: an ESP directory and an efivarfs directory.
type machine struct {
	esp, efivars, linux string
	env                 Env
}

// newMachine makes an ESP holding db.auth (the db certificate) and the UKIs
// kiln-0.1.0.efi (previous good) and kiln-0.2.0.efi (booted), running 0.2.0
// with pcrKeyA, Secure Boot on with db enrolled, and 64 MiB free.
func newMachine(t *testing.T) *machine {
	t.Helper()
	root := t.TempDir()
	m := &machine{esp: filepath.Join(root, "esp"), efivars: filepath.Join(root, "efivars")}
	m.linux = filepath.Join(m.esp, LinuxDir)
	for _, d := range []string{m.linux, filepath.Join(m.esp, "loader/keys/auto"), m.efivars} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	db := testpki.LoadPair(t, keyDir, "db")
	esl := eslOf(t, db.Cert.Raw, efivar.CertX509)
	auth, err := efivar.AuthVariable("db", efivar.ImageSecurityDatabase, efivar.AttrsSecureBoot, time.Unix(1704164645, 0).UTC(), esl, db.Cert, db.Signer)
	if err != nil {
		t.Fatal(err)
	}
	m.write(t, filepath.Join(m.esp, DBAuthESP), auth)
	m.setVar(t, "db", efivar.ImageSecurityDatabase, esl)
	m.setVar(t, "SecureBoot", efivar.GlobalVariable, []byte{1})
	m.write(t, filepath.Join(m.linux, "kiln-0.1.0.efi"), kiln("0.1.0").build(t))
	m.write(t, filepath.Join(m.linux, "kiln-0.2.0.efi"), kiln("0.2.0").build(t))
	m.env = Env{EfivarsDir: m.efivars, ESPDir: m.esp, Booted: "kiln-0.2.0.efi", RunningVersion: "0.2.0",
		RunningPCRKey: pcrKeyA, OSID: "kiln",
		FreeSpace: func(string) (uint64, uint64, error) { return 64 << 20, 4096, nil }}
	return m
}

func eslOf(t testing.TB, data []byte, typ guid.GUID) []byte {
	t.Helper()
	b, err := efivar.SignatureList{Type: typ, Signatures: []efivar.SignatureData{{Owner: owner, Data: data}}}.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (m *machine) setVar(t testing.TB, name string, vendor guid.GUID, value []byte) {
	t.Helper()
	b := binary.LittleEndian.AppendUint32(nil, efivar.AttrsSecureBoot)
	m.write(t, filepath.Join(m.efivars, name+"-"+vendor.String()), append(b, value...))
}

func (m *machine) write(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// snapshot is every file of the ESP with its SHA-256.
func (m *machine) snapshot(t testing.TB) map[string][sha256.Size]byte {
	t.Helper()
	out := map[string][sha256.Size]byte{}
	err := filepath.WalkDir(m.esp, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(m.esp, path)
		out[rel] = sha256.Sum256(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (m *machine) names(t testing.TB) []string {
	t.Helper()
	des, err := os.ReadDir(m.linux)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, de := range des {
		out = append(out, de.Name())
	}
	return out
}

func sameSnapshot(a, b map[string][sha256.Size]byte) bool { return maps.Equal(a, b) }

func sortedKeys(m map[string][sha256.Size]byte) []string { return slices.Sorted(maps.Keys(m)) }

// sectionOffset is the file offset of section name's data.
func sectionOffset(t testing.TB, image []byte, name string) int {
	t.Helper()
	f, err := pe.Parse(image)
	if err != nil {
		t.Fatal(err)
	}
	s := f.Section(name)
	if s == nil {
		t.Fatalf("no %s", name)
	}
	return int(s.PointerToRawData)
}

func flip(image []byte, off int) []byte {
	b := slices.Clone(image)
	b[off] ^= 0x01
	return b
}
