package authenticode

import (
	"crypto"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"

	"github.com/kiln-os/kiln/internal/testpki"
	"github.com/kiln-os/kiln/uki/pe"
)

// systemdStub is where Debian's systemd-boot-efi package installs the stub.
const systemdStub = "/usr/lib/systemd/boot/efi/linuxx64.efi.stub"

// testKey is a certificate and its key from testdata/ (see README.md there).
type testKey struct {
	cert     *x509.Certificate
	signer   crypto.Signer
	certPath string
	keyPath  string
}

func loadKey(t testing.TB, name string) testKey {
	t.Helper()
	p := testpki.LoadPair(t, "testdata", name)
	return testKey{cert: p.Cert, signer: p.Signer, certPath: p.CertPath, keyPath: p.KeyPath}
}

// tinyUKI is the golden UKI of package pe, assembled from a tiny stub.
func tinyUKI(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "pe", "testdata", "tiny-uki.efi"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ukiSections are tiny fake payloads in pipeline order.
func ukiSections() []pe.Section {
	return []pe.Section{
		{Name: ".osrel", Data: []byte("ID=kiln\nNAME=Kiln\n")},
		{Name: ".cmdline", Data: []byte("console=ttyS0 panic=10")},
		{Name: ".uname", Data: []byte("6.1.0-kiln")},
		{Name: ".sbat", Data: []byte("kiln,1,Kiln,kiln,0.0.0-test,https://github.com/kiln-os/kiln\n")},
		{Name: ".linux", Data: []byte("MZ not really a kernel")},
		{Name: ".initrd", Data: []byte("070701 not really an initramfs")},
	}
}

// systemdUKI assembles a UKI on the real systemd-stub, or skips the test.
func systemdUKI(t testing.TB) []byte {
	t.Helper()
	stub, err := os.ReadFile(systemdStub)
	if err != nil {
		t.Skipf("systemd-stub not installed (%v): apt-get install systemd-boot-efi to run this test", err)
	}
	uki, err := pe.Assemble(pe.Options{Stub: stub, Sections: ukiSections(), Timestamp: 1704164645})
	if err != nil {
		t.Fatal(err)
	}
	return uki
}

func sign(t testing.TB, image []byte, k testKey) []byte {
	t.Helper()
	signed, err := Sign(image, k.cert, k.signer)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return signed
}

// sectionOffset is the file offset of the first byte of section name.
func sectionOffset(t testing.TB, image []byte, name string) int {
	t.Helper()
	f, err := pe.Parse(image)
	if err != nil {
		t.Fatal(err)
	}
	s := f.Section(name)
	if s == nil {
		t.Fatalf("no section %s", name)
	}
	return int(s.PointerToRawData)
}

// flip returns a copy of b with one bit of byte i flipped.
func flip(b []byte, i int) []byte {
	out := append([]byte(nil), b...)
	out[i] ^= 1
	return out
}
