package efivar

// Oracle tests: efitools (cert-to-efi-sig-list, sig-list-to-certs,
// sign-efi-sig-list) and openssl check the signature lists and .auth files.

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-os/kiln/internal/oracle"
)

func requireTool(t *testing.T, tool, pkg string) { oracle.Require(t, tool, pkg) }

func run(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestOracleCertToEFISigList: efitools builds the same signature list byte for byte.
func TestOracleCertToEFISigList(t *testing.T) {
	requireTool(t, "cert-to-efi-sig-list", "efitools")
	for _, role := range []string{"PK", "KEK", "db"} {
		p := loadTestPair(t, role)
		out := filepath.Join(t.TempDir(), role+".esl")
		run(t, "cert-to-efi-sig-list", "-g", testOwner.String(), p.certPEM, out)
		theirs, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if ours := testESL(t, p); !bytes.Equal(ours, theirs) {
			t.Errorf("%s: our ESL (%d bytes) differs from cert-to-efi-sig-list's (%d bytes)", role, len(ours), len(theirs))
		}
	}
}

// TestOracleSigListToCerts: efitools extracts our certificate from our list.
func TestOracleSigListToCerts(t *testing.T) {
	requireTool(t, "sig-list-to-certs", "efitools")
	dir := t.TempDir()
	p := loadTestPair(t, "db")
	esl := writeFile(t, dir, "db.esl", testESL(t, p))
	run(t, "sig-list-to-certs", esl, filepath.Join(dir, "cert"))
	der, err := os.ReadFile(filepath.Join(dir, "cert-0.der"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(der, p.cert.Raw) {
		t.Error("sig-list-to-certs extracted another certificate")
	}
}

// TestOracleSignEFISigList compares each .auth file with the one
// sign-efi-sig-list makes from the same list, key and timestamp. Both are
// deterministic, so they must be byte-identical; our verifier must accept
// efitools' file too.
func TestOracleSignEFISigList(t *testing.T) {
	requireTool(t, "sign-efi-sig-list", "efitools")
	for _, c := range enrolmentChain {
		dir := t.TempDir()
		signer := loadTestPair(t, c.signedBy)
		esl := writeFile(t, dir, c.name+".esl", testESL(t, loadTestPair(t, c.subject)))
		out := filepath.Join(dir, c.name+".auth")
		run(t, "sign-efi-sig-list", "-t", testTime.Format("2006-01-02 15:04:05"),
			"-k", signer.keyPEM, "-c", signer.certPEM, c.name, esl, out)
		theirs, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if err := VerifyAuth(c.name, c.vendor, AttrsSecureBoot, theirs, signer.cert); err != nil {
			t.Errorf("%s: efitools' file does not verify here: %v", c.name, err)
		}
		if ours := buildAuth(t, c); !bytes.Equal(ours, theirs) {
			t.Errorf("%s.auth: ours (%d bytes) differs from sign-efi-sig-list's (%d bytes); first difference at %d",
				c.name, len(ours), len(theirs), firstDiff(ours, theirs))
		}
	}
}

// TestOracleOpenSSLVerify has openssl check each signature: the PKCS#7
// (wrapped in a ContentInfo, as openssl wants it) over the rebuilt signed
// bytes, with the signing certificate as the only trust anchor. A wrong
// anchor and a changed byte must fail.
func TestOracleOpenSSLVerify(t *testing.T) {
	requireTool(t, "openssl", "openssl")
	for _, c := range enrolmentChain {
		dir := t.TempDir()
		a, err := ParseAuth(buildAuth(t, c))
		if err != nil {
			t.Fatal(err)
		}
		input, err := SigningInput(c.name, c.vendor, AttrsSecureBoot, a.Timestamp, a.Payload)
		if err != nil {
			t.Fatal(err)
		}
		p7 := writeFile(t, dir, "p7.der", wrapContentInfo(t, a.PKCS7))
		content := writeFile(t, dir, "content", input)
		if out, err := opensslVerify(p7, content, loadTestPair(t, c.signedBy).certPEM); err != nil {
			t.Errorf("%s: openssl cms -verify: %v\n%s", c.name, err, out)
		}
		wrongAnchor := loadTestPair(t, c.subject).certPEM
		if c.subject == c.signedBy {
			wrongAnchor = loadTestPair(t, "db").certPEM
		}
		if _, err := opensslVerify(p7, content, wrongAnchor); err == nil {
			t.Errorf("%s: openssl verified with the wrong anchor", c.name)
		}
		input[len(input)-1] ^= 1
		tampered := writeFile(t, dir, "tampered", input)
		if _, err := opensslVerify(p7, tampered, loadTestPair(t, c.signedBy).certPEM); err == nil {
			t.Errorf("%s: openssl verified changed content", c.name)
		}
	}
}

func opensslVerify(p7, content, caFile string) ([]byte, error) {
	return exec.Command("openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", p7,
		"-content", content, "-CAfile", caFile, "-purpose", "any", "-out", os.DevNull).CombinedOutput()
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
