package authenticode

// Oracle tests: sbverify and osslsigncode check our signatures on the tiny
// golden UKI and on a UKI built on the real systemd-stub, objdump reads the
// signed image, and our Verify and Hash check what sbsign makes. Every
// verdict of a tool is compared with Verify's.

import (
	"bytes"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/kiln-os/kiln/internal/oracle"
	"github.com/kiln-os/kiln/uki/pe"
)

func requireTool(t *testing.T, tool, pkg string) { oracle.Require(t, tool, pkg) }

func writeTemp(t *testing.T, b []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "uki.efi")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// verifyCase is an image, the certificate to check it against, and
// whether it is validly signed by it.
type verifyCase struct {
	name  string
	image []byte
	ca    testKey
	ok    bool
}

// systemdBoot is where Debian's systemd-boot-efi package installs
// systemd-boot, which Kiln signs with the same code.
const systemdBoot = "/usr/lib/systemd/boot/efi/systemd-bootx64.efi"

// oracleImage is an unsigned image and the file offsets of bytes that its
// signature must cover.
type oracleImage struct {
	name    string
	image   []byte
	covered map[string]int // what -> offset
}

// oracleImages are the tiny golden UKI and, when the packages are
// installed, a UKI built on systemd-stub and systemd-boot itself (odd-sized,
// with a COFF symbol table after its sections that the hash must cover).
func oracleImages(t *testing.T) []oracleImage {
	ukiCovered := func(uki []byte) map[string]int {
		return map[string]int{
			".linux":      sectionOffset(t, uki, ".linux"),
			".cmdline":    sectionOffset(t, uki, ".cmdline") + 3,
			"the headers": 0x40,
		}
	}
	tiny := tinyUKI(t)
	images := []oracleImage{{"tiny", tiny, ukiCovered(tiny)}}
	if stub, err := os.ReadFile(systemdStub); err != nil {
		t.Logf("systemd-stub not installed (%v): skipping its UKI", err)
	} else {
		uki, err := pe.Assemble(pe.Options{Stub: stub, Sections: ukiSections(), Timestamp: 1704164645})
		if err != nil {
			t.Fatal(err)
		}
		images = append(images, oracleImage{"systemd-stub UKI", uki, ukiCovered(uki)})
	}
	if boot, err := os.ReadFile(systemdBoot); err != nil {
		t.Logf("systemd-boot not installed (%v): skipping it", err)
	} else {
		images = append(images, oracleImage{"systemd-boot", boot, map[string]int{
			".text":                       sectionOffset(t, boot, ".text") + 0x100,
			"the symbol table at the end": len(boot) - 1,
		}})
	}
	return images
}

// verifyCases signs each oracle image and breaks it in the ways a
// verifier must catch.
func verifyCases(t *testing.T) []verifyCase {
	db, other := loadKey(t, "db"), loadKey(t, "other")
	var cases []verifyCase
	for _, img := range oracleImages(t) {
		signed := sign(t, img.image, db)
		cases = append(cases,
			verifyCase{img.name + ": signed with db", signed, db, true},
			verifyCase{img.name + ": checked against another certificate", signed, other, false},
			verifyCase{img.name + ": unsigned", img.image, db, false},
		)
		for what, off := range img.covered {
			cases = append(cases, verifyCase{img.name + ": one byte of " + what + " changed", flip(signed, off), db, false})
		}
	}
	slices.SortStableFunc(cases, func(a, b verifyCase) int { return strings.Compare(a.name, b.name) })
	return cases
}

// checkAgrees fails if Verify's verdict on c differs from the tool's.
func checkAgrees(t *testing.T, c verifyCase, tool string, toolOK bool, output []byte) {
	t.Helper()
	if toolOK != c.ok {
		t.Errorf("%s says ok=%v, want %v:\n%s", tool, toolOK, c.ok, output)
	}
	err := Verify(c.image, []*x509.Certificate{c.ca.cert})
	if ourOK := err == nil; ourOK != toolOK {
		t.Errorf("Verify says ok=%v (%v), %s says ok=%v", ourOK, err, tool, toolOK)
	}
}

func TestSbverify(t *testing.T) {
	requireTool(t, "sbverify", "sbsigntool")
	for _, c := range verifyCases(t) {
		t.Run(c.name, func(t *testing.T) {
			out, err := exec.Command("sbverify", "--cert", c.ca.certPath, writeTemp(t, c.image)).CombinedOutput()
			checkAgrees(t, c, "sbverify", err == nil, out)
		})
	}
}

// TestOsslsigncode runs `osslsigncode verify -in X -CAfile db.crt`.
// osslsigncode 2.x also looks for a TSA CA file (default
// /etc/ssl/certs/ca-certificates.crt) and prints "Timestamp is not
// available": without a timestamp that is informational, and verification
// succeeds on the signature and the chain alone.
func TestOsslsigncode(t *testing.T) {
	requireTool(t, "osslsigncode", "osslsigncode")
	for _, c := range verifyCases(t) {
		t.Run(c.name, func(t *testing.T) {
			out, err := exec.Command("osslsigncode", "verify", "-in", writeTemp(t, c.image), "-CAfile", c.ca.certPath).CombinedOutput()
			toolOK := err == nil && bytes.Contains(out, []byte("Signature verification: ok"))
			checkAgrees(t, c, "osslsigncode", toolOK, out)
			if c.ok {
				checkOsslsigncodeDigests(t, c.image, out)
			}
		})
	}
}

// checkOsslsigncodeDigests compares the image hash and PE checksum that
// osslsigncode prints with ours.
func checkOsslsigncodeDigests(t *testing.T, image, out []byte) {
	t.Helper()
	want := strings.ToUpper(hex.EncodeToString(mustHash(t, image)))
	for _, label := range []string{"Current message digest", "Calculated message digest"} {
		if got := field(out, label); got != want {
			t.Errorf("osslsigncode %s %q, Hash %s", label, got, want)
		}
	}
	f, err := pe.Parse(image)
	if err != nil {
		t.Fatal(err)
	}
	// It prints "PE checksum" alone when the field is right, and
	// "Current PE checksum" and "Calculated PE checksum" when it is not.
	if got, want := field(out, "PE checksum"), fmt.Sprintf("%08X", f.OptionalHeader.CheckSum); got != want {
		t.Errorf("osslsigncode PE checksum %q, our CheckSum field %s:\n%s", got, want, out)
	}
}

// field returns the value of the first "label : value" line of out.
func field(out []byte, label string) string {
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(label) + `\s*:\s*(\S+)`).FindSubmatch(out)
	if m == nil {
		return ""
	}
	return string(m[1])
}

// TestSbsignInterop checks our Hash and Verify on a signature that sbsign
// made: the digest it signed is our hash, and Verify accepts it.
func TestSbsignInterop(t *testing.T) {
	requireTool(t, "sbsign", "sbsigntool")
	db := loadKey(t, "db")
	uki := systemdUKI(t)
	out := filepath.Join(t.TempDir(), "sbsigned.efi")
	cmd := exec.Command("sbsign", "--key", db.keyPath, "--cert", db.certPath, "--output", out, writeTemp(t, uki))
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sbsign: %v\n%s", err, msg)
	}
	sbsigned, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := parseSignature(signedBlob(t, sbsigned))
	if err != nil {
		t.Fatalf("parsing sbsign's signature: %v", err)
	}
	if want := mustHash(t, uki); !bytes.Equal(sig.imageDigest, want) {
		t.Errorf("sbsign signed the digest %x, Hash is %x", sig.imageDigest, want)
	}
	if err := Verify(sbsigned, []*x509.Certificate{db.cert}); err != nil {
		t.Errorf("Verify of sbsign's signature: %v", err)
	}
	if err := Verify(sbsigned, []*x509.Certificate{loadKey(t, "other").cert}); err == nil {
		t.Errorf("Verify accepted sbsign's signature against another certificate")
	}
}

// objdumpSection matches a section line of `objdump -h`:
// Idx Name Size VMA LMA File-off Algn.
var objdumpSection = regexp.MustCompile(`(?m)^\s*\d+\s+(\S+)\s+[0-9a-f]+\s+([0-9a-f]+)\s`)

// TestObjdumpSigned checks that objdump reads the signed UKI and lists the
// added sections in order, page-aligned.
func TestObjdumpSigned(t *testing.T) {
	requireTool(t, "objdump", "binutils")
	signed := sign(t, systemdUKI(t), loadKey(t, "db"))
	out, err := exec.Command("objdump", "-h", writeTemp(t, signed)).CombinedOutput()
	if err != nil {
		t.Fatalf("objdump -h: %v\n%s", err, out)
	}
	var names []string
	for _, m := range objdumpSection.FindAllSubmatch(out, -1) {
		names = append(names, string(m[1]))
		vma, _ := strconv.ParseUint(string(m[2]), 16, 64)
		if isAdded(string(m[1])) && vma%pe.PageSize != 0 {
			t.Errorf("%s at %#x is not page-aligned", m[1], vma)
		}
	}
	var want []string
	for _, s := range ukiSections() {
		want = append(want, s.Name)
	}
	if len(names) < len(want) || strings.Join(names[len(names)-len(want):], " ") != strings.Join(want, " ") {
		t.Errorf("objdump lists %q, want it to end with %q", names, want)
	}
}

func isAdded(name string) bool {
	for _, s := range ukiSections() {
		if s.Name == name {
			return true
		}
	}
	return false
}
