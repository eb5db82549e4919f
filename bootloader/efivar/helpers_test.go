package efivar

import (
	"crypto"
	"crypto/x509"
	"flag"
	"testing"
	"time"

	"github.com/kiln-os/kiln/internal/guid"
	"github.com/kiln-os/kiln/internal/testpki"
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
	p := testpki.LoadPair(t, "testdata", role)
	return testPair{cert: p.Cert, signer: p.Signer, certPEM: p.CertPath, keyPEM: p.KeyPath}
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
