package upgrade

import (
	"crypto/sha256"
	"encoding/binary"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/kiln-os/kiln/bootloader/efivar"
	"github.com/kiln-os/kiln/internal/guid"
	"github.com/kiln-os/kiln/internal/testpki"
	"github.com/kiln-os/kiln/internal/ukitest"
)

// keyDir holds the throw-away db and other keys of uki/authenticode's tests.
const keyDir = "../../uki/authenticode/testdata"

var owner = guid.MustParse("8c5b1a3e-2f44-4d8e-9b1e-6a0f3c2d1e00")

// machine is a fake node: an ESP directory and an efivarfs directory.
type machine struct {
	esp, efivars, linux string
	env                 Env
}

// newMachine makes an ESP holding db.auth (the db certificate) and the UKIs
// kiln-0.1.0.efi (previous good) and kiln-0.2.0.efi (booted), running 0.2.0
// with ukitest.PCRKeyA, Secure Boot on with db enrolled, and 64 MiB free.
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
	m.write(t, filepath.Join(m.linux, "kiln-0.1.0.efi"), ukitest.Kiln("0.1.0").Build(t))
	m.write(t, filepath.Join(m.linux, "kiln-0.2.0.efi"), ukitest.Kiln("0.2.0").Build(t))
	m.env = Env{EfivarsDir: m.efivars, ESPDir: m.esp, Booted: "kiln-0.2.0.efi", RunningVersion: "0.2.0",
		RunningPCRKey: ukitest.PCRKeyA, OSID: "kiln",
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
