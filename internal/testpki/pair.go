package testpki

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
)

// Pair is a certificate and its private key as signing tests keep them under testdata,
// with the file paths for the external tools (sbsign, sign-efi-sig-list) that read them.
type Pair struct {
	Cert              *x509.Certificate
	Signer            crypto.Signer
	CertPath, KeyPath string
}

// LoadPair reads dir/name.crt (a PEM certificate) and dir/name.key (a PEM PKCS#8 key).
func LoadPair(t testing.TB, dir, name string) Pair {
	t.Helper()
	p := Pair{CertPath: filepath.Join(dir, name+".crt"), KeyPath: filepath.Join(dir, name+".key")}
	p.Cert = ReadPEM(t, p.CertPath, x509.ParseCertificate)
	key := ReadPEM(t, p.KeyPath, x509.ParsePKCS8PrivateKey)
	signer, ok := key.(crypto.Signer)
	if !ok {
		t.Fatalf("%s: a %T cannot sign", p.KeyPath, key)
	}
	p.Signer = signer
	return p
}

// ReadPEM parses the first PEM block of the file at path with parse, failing the test on any
// error.
func ReadPEM[T any](t testing.TB, path string, parse func([]byte) (T, error)) T {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatalf("%s: no PEM block", path)
	}
	v, err := parse(block.Bytes)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return v
}
