package bootloader

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kiln-os/kiln/bootloader/efivar"
	"github.com/kiln-os/kiln/bootloader/entry"
	"github.com/kiln-os/kiln/bootloader/keys"
	"github.com/kiln-os/kiln/internal/guid"
	"github.com/kiln-os/kiln/internal/oracle"
)

func TestLoaderConf(t *testing.T) {
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSuffix(string(LoaderConf()), "\n"), "\n") {
		key, value, ok := strings.Cut(line, " ")
		if !ok || got[key] != "" {
			t.Fatalf("line %q", line)
		}
		got[key] = value
	}
	want := map[string]string{"timeout": "0", "editor": "no", "secure-boot-enroll": "force"}
	if len(got) != len(want) {
		t.Errorf("loader.conf keys %v, want exactly %v (in particular no default)", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

func TestLayout(t *testing.T) {
	want := []string{
		"EFI/BOOT/BOOTX64.EFI",
		"EFI/Linux/kiln-0.1.0+3.efi",
		"EFI/systemd/systemd-bootx64.efi",
		"loader/keys/auto/KEK.auth",
		"loader/keys/auto/PK.auth",
		"loader/keys/auto/db.auth",
		"loader/loader.conf",
	}
	if got := Layout(entry.Fresh("0.1.0")); !slices.Equal(got, want) {
		t.Errorf("Layout = %q\nwant %q", got, want)
	}
}

// TestEnrollmentFiles checks the chain: each file holds the right
// certificate and is signed by the key above it.
func TestEnrollmentFiles(t *testing.T) {
	set, _ := testKeys(t)
	files, err := EnrollmentFiles(set, OwnerGUID, testEpoch)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		path     string
		variable string
		vendor   guid.GUID
		payload  *x509.Certificate
		signer   *x509.Certificate
	}{
		{"loader/keys/auto/db.auth", "db", efivar.ImageSecurityDatabase, set.DB.Cert, set.KEK.Cert},
		{"loader/keys/auto/KEK.auth", "KEK", efivar.GlobalVariable, set.KEK.Cert, set.PK.Cert},
		{"loader/keys/auto/PK.auth", "PK", efivar.GlobalVariable, set.PK.Cert, set.PK.Cert},
	}
	if len(files) != len(cases) {
		t.Fatalf("%d files", len(files))
	}
	for i, c := range cases {
		f := files[i]
		if f.Path != c.path {
			t.Errorf("file %d is %s, want %s", i, f.Path, c.path)
		}
		if err := efivar.VerifyAuth(c.variable, c.vendor, efivar.AttrsSecureBoot, f.Data, c.signer); err != nil {
			t.Errorf("%s: %v", c.path, err)
		}
		a, err := efivar.ParseAuth(f.Data)
		if err != nil {
			t.Fatal(err)
		}
		lists, err := efivar.ParseSignatureLists(a.Payload)
		if err != nil {
			t.Fatal(err)
		}
		certs, err := efivar.Certificates(lists)
		if err != nil || len(certs) != 1 || !certs[0].Equal(c.payload) || lists[0].Signatures[0].Owner != OwnerGUID {
			t.Errorf("%s: payload is not one %s certificate owned by OwnerGUID", c.path, c.variable)
		}
		if !a.Timestamp.Equal(testEpoch) {
			t.Errorf("%s: timestamp %v", c.path, a.Timestamp)
		}
	}
	again, _ := EnrollmentFiles(set, OwnerGUID, testEpoch)
	if !slices.EqualFunc(files, again, func(a, b File) bool { return a.Path == b.Path && bytes.Equal(a.Data, b.Data) }) {
		t.Error("EnrollmentFiles is not deterministic")
	}
}

func TestEnrollmentFilesWithoutKeys(t *testing.T) {
	_, err := EnrollmentFiles(nil, OwnerGUID, testEpoch)
	if err == nil || !strings.Contains(err.Error(), "kiln keys generate") {
		t.Errorf("no keys: %v", err)
	}
	set, _ := testKeys(t)
	partial := *set
	partial.KEK = keys.Pair{}
	if _, err := EnrollmentFiles(&partial, OwnerGUID, testEpoch); err == nil {
		t.Error("a set without KEK made enrolment files")
	}
}

func TestESPFiles(t *testing.T) {
	set, _ := testKeys(t)
	boot := appendSign(fakeSystemdBoot())
	esp := ESP{SystemdBoot: boot, Keys: set, Owner: OwnerGUID, Timestamp: testEpoch,
		UKIs: []UKI{{entry.Fresh("0.1.0"), []byte("uki")}}}
	files, err := esp.Files()
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	byPath := map[string][]byte{}
	for _, f := range files {
		paths = append(paths, f.Path)
		byPath[f.Path] = f.Data
	}
	if want := Layout(entry.Fresh("0.1.0")); !slices.Equal(paths, want) {
		t.Errorf("paths %q\nwant %q", paths, want)
	}
	if !bytes.Equal(byPath[BootX64Path], boot) || !bytes.Equal(byPath[SystemdBootPath], boot) {
		t.Error("both loader paths must hold the signed systemd-boot")
	}
	if !bytes.Equal(byPath[LoaderConfPath], LoaderConf()) || string(byPath["EFI/Linux/kiln-0.1.0+3.efi"]) != "uki" {
		t.Error("loader.conf or the UKI differ")
	}
}

func TestESPFilesRejects(t *testing.T) {
	set, _ := testKeys(t)
	base := ESP{SystemdBoot: fakeSystemdBoot(), Keys: set, Owner: OwnerGUID, Timestamp: testEpoch}
	for name, ukis := range map[string][]UKI{
		"not .efi":          {{"kiln-0.1.0", nil}},
		"not Kiln's":        {{"other-0.1.0.efi", nil}},
		"path":              {{"../kiln-0.1.0.efi", nil}},
		"non-canonical":     {{"kiln-0.1.0+03.efi", nil}},
		"twice, other case": {{"kiln-0.1.0a.efi", nil}, {"kiln-0.1.0A.efi", nil}},
	} {
		esp := base
		esp.UKIs = ukis
		if _, err := esp.Files(); err == nil {
			t.Errorf("%s: accepted %v", name, ukis)
		}
	}
	esp := base
	esp.SystemdBoot = []byte("MZ not systemd-boot")
	if _, err := esp.Files(); err == nil {
		t.Error("accepted something that is not systemd-boot")
	}
	esp = base
	esp.Timestamp = time.Time{}
	if _, err := esp.Files(); !errors.Is(err, efivar.ErrTime) {
		t.Errorf("zero timestamp: %v", err)
	}
}

func TestSignSystemdBoot(t *testing.T) {
	set, _ := testKeys(t)
	var gotCert *x509.Certificate
	sign := func(image []byte, cert *x509.Certificate, _ crypto.Signer) ([]byte, error) {
		gotCert = cert
		return appendSign(image), nil
	}
	signed, err := SignSystemdBoot(fakeSystemdBoot(), set.DB, sign)
	if err != nil || !bytes.HasSuffix(signed, []byte("SIGNED")) || !gotCert.Equal(set.DB.Cert) {
		t.Fatalf("SignSystemdBoot: %v", err)
	}
	stub := []byte("MZ...#### LoaderInfo: systemd-stub 252 ####")
	if _, err := SignSystemdBoot(stub, set.DB, sign); err == nil {
		t.Error("signed systemd-stub as systemd-boot")
	}
	boom := errors.New("hsm offline")
	failing := func([]byte, *x509.Certificate, crypto.Signer) ([]byte, error) { return nil, boom }
	if _, err := SignSystemdBoot(fakeSystemdBoot(), set.DB, failing); !errors.Is(err, boom) {
		t.Errorf("signer error not wrapped: %v", err)
	}
	garbage := func([]byte, *x509.Certificate, crypto.Signer) ([]byte, error) { return []byte("x"), nil }
	if _, err := SignSystemdBoot(fakeSystemdBoot(), set.DB, garbage); err == nil {
		t.Error("accepted garbage from the signer")
	}
	if _, err := SignSystemdBoot(fakeSystemdBoot(), keys.Pair{}, sign); err == nil {
		t.Error("signed without a db key")
	}
}

// sbsign is an Authenticode signer for the oracle tests: sbsigntool's
// sbsign, standing in for uki/authenticode.
func sbsign(t *testing.T, keysDir string) SignFunc {
	return func(image []byte, _ *x509.Certificate, _ crypto.Signer) ([]byte, error) {
		dir := t.TempDir()
		in, out := filepath.Join(dir, "in.efi"), filepath.Join(dir, "out.efi")
		if err := os.WriteFile(in, image, 0o644); err != nil {
			return nil, err
		}
		cmd := exec.Command("sbsign", "--key", filepath.Join(keysDir, "db.key"), "--cert", filepath.Join(keysDir, "db.crt"), "--output", out, in)
		if b, err := cmd.CombinedOutput(); err != nil {
			return nil, errors.New(string(b))
		}
		return os.ReadFile(out)
	}
}

// TestOracleBootctl: bootctl 252 recognizes both systemd-boot copies in our
// tree, and sbverify accepts the db signature (sbsign stands in for
// uki/authenticode). bootctl's userspace parser does not know
// secure-boot-enroll (only systemd-boot's EFI side does), so that is the one
// warning allowed.
func TestOracleBootctl(t *testing.T) {
	requireTools(t, "bootctl", "sbsign", "sbverify")
	oracle.RequireFile(t, SystemdBootSource, "systemd-boot-efi")
	unsigned, err := os.ReadFile(SystemdBootSource)
	if err != nil {
		t.Fatal(err)
	}
	set, dir := testKeys(t)
	signed, err := SignSystemdBoot(unsigned, set.DB, sbsign(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	files, err := ESP{SystemdBoot: signed, Keys: set, Owner: OwnerGUID, Timestamp: testEpoch}.Files()
	if err != nil {
		t.Fatal(err)
	}
	esp := t.TempDir()
	writeTree(t, esp, files)
	out, err := exec.Command("sbverify", "--cert", filepath.Join(dir, "db.crt"), filepath.Join(esp, BootX64Path)).CombinedOutput()
	if err != nil {
		t.Errorf("sbverify: %v\n%s", err, out)
	}
	cmd := exec.Command("bootctl", "--esp-path="+esp, "--no-variables", "--no-pager", "status")
	cmd.Env = append(os.Environ(), "SYSTEMD_RELAX_ESP_CHECKS=1", "SYSTEMD_LOG_LEVEL=info")
	out, err = cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("bootctl status: %v\n%s", err, out)
	}
	for _, want := range []string{"/EFI/systemd/systemd-bootx64.efi (systemd-boot ", "/EFI/BOOT/BOOTX64.EFI (systemd-boot "} {
		if !strings.Contains(string(out), want) {
			t.Errorf("bootctl status does not show %q:\n%s", want, out)
		}
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "loader.conf") && !strings.Contains(line, "'secure-boot-enroll'") {
			t.Errorf("bootctl complains about loader.conf: %s", line)
		}
	}
}
