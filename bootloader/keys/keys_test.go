package keys

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kiln-os/kiln/bootloader/efivar"
	"github.com/kiln-os/kiln/internal/oracle"
)

var notBefore = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

var (
	generatedOnce sync.Once
	generatedDir  string
	generatedErr  error
)

// generated returns a copy of one key set made by Generate (RSA key
// generation is the slow part, so it runs once per test binary).
func generated(t *testing.T) string {
	t.Helper()
	generatedOnce.Do(func() {
		dir, err := os.MkdirTemp("", "kiln-keys-test-")
		if err != nil {
			generatedErr = err
			return
		}
		generatedDir = filepath.Join(dir, "_keys")
		generatedErr = Generate(generatedDir, "Kiln Test", rand.Reader, notBefore)
	})
	if generatedErr != nil {
		t.Fatal(generatedErr)
	}
	dir := filepath.Join(t.TempDir(), "_keys")
	if err := os.CopyFS(dir, os.DirFS(generatedDir)); err != nil {
		t.Fatal(err)
	}
	for _, name := range Files() {
		if strings.HasSuffix(name, ".key") {
			os.Chmod(filepath.Join(dir, name), 0o600)
		}
	}
	return dir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if generatedDir != "" {
		os.RemoveAll(filepath.Dir(generatedDir))
	}
	os.Exit(code)
}

func TestGenerateFileModes(t *testing.T) {
	generated(t) // make sure the shared set exists; check its original modes
	fi, err := os.Stat(generatedDir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("directory mode %v, %v; want 0700", fi.Mode().Perm(), err)
	}
	for _, name := range Files() {
		fi, err := os.Stat(filepath.Join(generatedDir, name))
		if err != nil {
			t.Fatal(err)
		}
		want := os.FileMode(0o644)
		if strings.HasSuffix(name, ".key") {
			want = 0o600
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s mode %v, want %v", name, fi.Mode().Perm(), want)
		}
	}
}

func TestLoadGenerated(t *testing.T) {
	s, err := Load(generated(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, role := range CertRoles {
		p, _ := s.Pair(role)
		checkCert(t, role, p)
	}
	if pub, ok := s.PCR.Public().(*rsa.PublicKey); !ok || pub.N.BitLen() != 2048 {
		t.Errorf("PCR key is %T", s.PCR.Public())
	}
	if eku := s.DB.Cert.ExtKeyUsage; len(eku) != 1 || eku[0] != x509.ExtKeyUsageCodeSigning {
		t.Errorf("db: ExtKeyUsage %v, want code signing", eku)
	}
}

func checkCert(t *testing.T, role Role, p Pair) {
	t.Helper()
	c := p.Cert
	if c.Subject.CommonName != "Kiln Test "+string(role) || c.Issuer.CommonName != c.Subject.CommonName {
		t.Errorf("%s: subject %q issuer %q", role, c.Subject, c.Issuer)
	}
	// CheckSignatureFrom would refuse db, a self-signed leaf that is no CA.
	if err := c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature); err != nil {
		t.Errorf("%s: not self-signed: %v", role, err)
	}
	if pub, ok := c.PublicKey.(*rsa.PublicKey); !ok || pub.N.BitLen() != 2048 {
		t.Errorf("%s: key %T", role, c.PublicKey)
	}
	if !c.NotBefore.Equal(notBefore) || c.SignatureAlgorithm != x509.SHA256WithRSA {
		t.Errorf("%s: NotBefore %v, algorithm %v", role, c.NotBefore, c.SignatureAlgorithm)
	}
	if wantCA := role != DB; c.IsCA != wantCA || !c.BasicConstraintsValid {
		t.Errorf("%s: IsCA %v, want %v", role, c.IsCA, wantCA)
	}
	if !p.Signer.Public().(*rsa.PublicKey).Equal(c.PublicKey) {
		t.Errorf("%s: signer does not hold the certificate's key", role)
	}
}

// TestSignersSignEnrolment: the loaded signers make .auth files that verify
// against the loaded certificates (PK signs KEK).
func TestSignersSignEnrolment(t *testing.T) {
	s, err := Load(generated(t))
	if err != nil {
		t.Fatal(err)
	}
	esl, err := efivar.X509List(efivar.GlobalVariable, s.KEK.Cert).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	auth, err := efivar.AuthVariable("KEK", efivar.GlobalVariable, efivar.AttrsSecureBoot, notBefore, esl, s.PK.Cert, s.PK.Signer)
	if err != nil {
		t.Fatal(err)
	}
	if err := efivar.VerifyAuth("KEK", efivar.GlobalVariable, efivar.AttrsSecureBoot, auth, s.PK.Cert); err != nil {
		t.Error(err)
	}
}

func TestGenerateRefusesToOverwrite(t *testing.T) {
	dir := generated(t)
	before, _ := os.ReadFile(filepath.Join(dir, "PK.key"))
	err := Generate(dir, "Other", rand.Reader, notBefore)
	if !errors.Is(err, ErrExist) {
		t.Fatalf("Generate over a set: %v, want ErrExist", err)
	}
	after, _ := os.ReadFile(filepath.Join(dir, "PK.key"))
	if string(before) != string(after) {
		t.Error("PK.key changed")
	}
	lone := t.TempDir()
	os.WriteFile(filepath.Join(lone, "pcr.key"), []byte("x"), 0o600)
	if err := Generate(lone, "", rand.Reader, notBefore); !errors.Is(err, ErrExist) || !strings.Contains(err.Error(), "pcr.key") {
		t.Errorf("Generate next to a lone pcr.key: %v", err)
	}
	if _, err := os.Stat(filepath.Join(lone, "PK.key")); err == nil {
		t.Error("Generate wrote PK.key although it refused")
	}
}

func TestLoadMissingSaysWhatToRun(t *testing.T) {
	for _, name := range Files() {
		dir := generated(t)
		os.Remove(filepath.Join(dir, name))
		_, err := Load(dir)
		if !errors.Is(err, ErrMissing) {
			t.Fatalf("without %s: %v, want ErrMissing", name, err)
		}
		msg := err.Error()
		if !strings.Contains(msg, filepath.Join(dir, name)) || !strings.Contains(msg, "kiln keys generate") || !strings.Contains(msg, "--generate-keys") {
			t.Errorf("without %s: message %q must name the file and the commands", name, msg)
		}
	}
}

func TestLoadRejects(t *testing.T) {
	dir := generated(t)
	os.Chmod(filepath.Join(dir, "db.key"), 0o644)
	if _, err := Load(dir); !errors.Is(err, ErrMode) {
		t.Errorf("world-readable db.key: %v, want ErrMode", err)
	}
	dir = generated(t)
	kek, _ := os.ReadFile(filepath.Join(dir, "KEK.crt"))
	os.WriteFile(filepath.Join(dir, "db.crt"), kek, 0o644)
	if _, err := Load(dir); !errors.Is(err, ErrMismatch) {
		t.Errorf("KEK.crt as db.crt: %v, want ErrMismatch", err)
	}
	dir = generated(t)
	os.WriteFile(filepath.Join(dir, "PK.crt"), []byte("not PEM"), 0o644)
	if _, err := Load(dir); !errors.Is(err, ErrKeyFile) {
		t.Errorf("garbage PK.crt: %v, want ErrKeyFile", err)
	}
}

// TestLoadPKCS1 accepts keys in the "RSA PRIVATE KEY" form older tools write.
func TestLoadPKCS1(t *testing.T) {
	dir := generated(t)
	path := filepath.Join(dir, "pcr.key")
	data, _ := os.ReadFile(path)
	block, _ := pem.Decode(data)
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key.(*rsa.PrivateKey))})
	os.WriteFile(path, pkcs1, 0o600)
	s, err := Load(dir)
	if err != nil || !s.PCR.Public().(*rsa.PublicKey).Equal(key.(*rsa.PrivateKey).Public()) {
		t.Errorf("PKCS#1 pcr.key: %v", err)
	}
}

// TestOpenSSLReadsKeys: openssl parses every file and sees the extensions.
func TestOpenSSLReadsKeys(t *testing.T) {
	oracle.Require(t, "openssl", "openssl")
	dir := generated(t)
	for _, name := range Files() {
		args := []string{"pkey", "-noout", "-in"}
		if strings.HasSuffix(name, ".crt") {
			args = []string{"x509", "-noout", "-ext", "basicConstraints,extendedKeyUsage", "-in"}
		}
		out, err := exec.Command("openssl", append(args, filepath.Join(dir, name))...).CombinedOutput()
		if err != nil {
			t.Errorf("openssl %s: %v\n%s", name, err, out)
		}
		if name == "db.crt" && !strings.Contains(string(out), "Code Signing") {
			t.Errorf("db.crt: openssl shows no Code Signing usage:\n%s", out)
		}
		if name == "PK.crt" && !strings.Contains(string(out), "CA:TRUE") {
			t.Errorf("PK.crt: openssl shows no CA:TRUE:\n%s", out)
		}
	}
}
