package efivar

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kiln-os/kiln/internal/guid"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// testTime is the timestamp of every .auth file in the tests and golden files.
var testTime = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

// testOwner is the owner GUID of every signature list in the tests.
var testOwner = guid.MustParse("f2449d02-b228-4b3d-8eb6-66debb154c8b")

// testPair is a test key from testdata/ (see testdata/README.md).
type testPair struct {
	cert            *x509.Certificate
	signer          crypto.Signer
	certPEM, keyPEM string // file paths, for the external tools
}

func loadTestPair(t testing.TB, role string) testPair {
	t.Helper()
	p := testPair{certPEM: filepath.Join("testdata", role+".crt"), keyPEM: filepath.Join("testdata", role+".key")}
	p.cert = mustParse(t, p.certPEM, func(b []byte) (any, error) { return x509.ParseCertificate(b) }).(*x509.Certificate)
	p.signer = mustParse(t, p.keyPEM, func(b []byte) (any, error) { return x509.ParsePKCS8PrivateKey(b) }).(crypto.Signer)
	return p
}

func mustParse(t testing.TB, path string, parse func([]byte) (any, error)) any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatalf("%s: no PEM block", path)
	}
	v, err := parse(block.Bytes)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return v
}

// testESL is the one-certificate signature list of role's certificate.
func testESL(t testing.TB, p testPair) []byte {
	t.Helper()
	esl, err := X509List(testOwner, p.cert).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return esl
}

// enrolmentCase is one file of the enrolment chain.
type enrolmentCase struct {
	name     string
	vendor   guid.GUID
	subject  string // whose certificate is the payload
	signedBy string
}

var enrolmentChain = []enrolmentCase{
	{"PK", GlobalVariable, "PK", "PK"},
	{"KEK", GlobalVariable, "KEK", "PK"},
	{"db", ImageSecurityDatabase, "db", "KEK"},
}

// buildAuth writes the .auth file of c with the test keys.
func buildAuth(t testing.TB, c enrolmentCase) []byte {
	t.Helper()
	signer := loadTestPair(t, c.signedBy)
	auth, err := AuthVariable(c.name, c.vendor, AttrsSecureBoot, testTime, testESL(t, loadTestPair(t, c.subject)), signer.cert, signer.signer)
	if err != nil {
		t.Fatal(err)
	}
	return auth
}
