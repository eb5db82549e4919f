package pkcs7

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"math/big"
	"testing"
	"time"
)

type pair struct {
	cert   *x509.Certificate
	signer crypto.Signer
}

// newPair makes a self-signed RSA certificate, as Kiln's db and PK are.
func newPair(t testing.TB, name string, serial int64) pair {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Unix(0, 0), NotAfter: time.Unix(1<<32, 0),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return pair{cert, key}
}

// detached builds a SignedData as bootloader/efivar does: no attributes, content absent.
func detached(t testing.TB, p pair, content []byte) []byte {
	t.Helper()
	sig, err := SignSHA256(p.cert, p.signer, content)
	if err != nil {
		t.Fatal(err)
	}
	var e Encoder
	sd := e.SignedData(e.ContentInfo(OIDData, nil), p.cert, e.SignerInfo(p.cert, nil, sig))
	if e.Err != nil {
		t.Fatal(e.Err)
	}
	return sd
}

// withAttributes builds a SignedData as uki/authenticode does: the content inside, and
// contentType and messageDigest attributes signed in place of the content.
func withAttributes(t testing.TB, p pair, contentType asn1.ObjectIdentifier, content []byte) []byte {
	t.Helper()
	var e Encoder
	digest := sha256.Sum256(content)
	attrs := [][]byte{
		e.Attribute(OIDContentType, e.Marshal(contentType)),
		e.Attribute(OIDMessageDigest, e.Marshal(digest[:])),
	}
	sig, err := SignSHA256(p.cert, p.signer, e.Set(attrs...))
	if err != nil {
		t.Fatal(err)
	}
	info := e.SignerInfo(p.cert, e.Context(0, attrs...), sig)
	sd := e.SignedData(e.ContentInfo(contentType, e.Marshal(content)), p.cert, info)
	ci := e.ContentInfo(OIDSignedData, sd)
	if e.Err != nil {
		t.Fatal(e.Err)
	}
	return ci
}

func verify(sd *SignedData, cert *x509.Certificate, contentType asn1.ObjectIdentifier, content []byte) error {
	si, ok := sd.SignerFor(cert)
	if !ok {
		return errors.New("no SignerInfo names the certificate")
	}
	return si.Verify(cert, contentType, content)
}

func TestRoundTrip(t *testing.T) {
	p, other := newPair(t, "db", 1), newPair(t, "other", 2)
	content := []byte("signed bytes")
	for name, der := range map[string][]byte{
		"detached":        detached(t, p, content),
		"with attributes": withAttributes(t, p, OIDData, content),
	} {
		sd, err := Parse(der)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(sd.Certificates) != 1 || !sd.Certificates[0].Equal(p.cert) {
			t.Errorf("%s: certificates %v, want the signer's", name, sd.Certificates)
		}
		if err := verify(sd, p.cert, OIDData, content); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if err := verify(sd, p.cert, OIDData, []byte("other bytes")); !errors.Is(err, ErrSignature) {
			t.Errorf("%s: other content: %v, want ErrSignature", name, err)
		}
		if _, ok := sd.SignerFor(other.cert); ok {
			t.Errorf("%s: a SignerInfo names a certificate that did not sign", name)
		}
	}
}

// The same inputs give the same bytes: images and .auth files are reproducible.
func TestDeterministic(t *testing.T) {
	p := newPair(t, "db", 1)
	if !bytes.Equal(detached(t, p, []byte("x")), detached(t, p, []byte("x"))) {
		t.Error("two signatures of the same content differ")
	}
}

func TestVerifyAttributes(t *testing.T) {
	p := newPair(t, "db", 1)
	content := []byte("signed bytes")
	sd, err := Parse(withAttributes(t, p, OIDData, content))
	if err != nil {
		t.Fatal(err)
	}
	if err := verify(sd, p.cert, OIDSignedData, content); !errors.Is(err, ErrFormat) {
		t.Errorf("wrong contentType attribute: %v, want ErrFormat", err)
	}
	si := sd.SignerInfos[0]
	si.Signature = bytes.Clone(si.Signature)
	si.Signature[0] ^= 1
	if err := si.Verify(p.cert, OIDData, content); !errors.Is(err, ErrSignature) {
		t.Errorf("changed signature: %v, want ErrSignature", err)
	}
	si = sd.SignerInfos[0]
	si.DigestAlgorithm = OIDData
	if err := si.Verify(p.cert, OIDData, content); !errors.Is(err, ErrUnsupported) {
		t.Errorf("digest algorithm not SHA-256: %v, want ErrUnsupported", err)
	}
}

func TestParseRejects(t *testing.T) {
	p := newPair(t, "db", 1)
	good := detached(t, p, []byte("x"))
	cases := map[string][]byte{
		"empty":          nil,
		"trailing bytes": append(bytes.Clone(good), 0),
		"not a SEQUENCE": {0x04, 0x00},
		"empty SEQUENCE": {0x30, 0x00},
		"cut short":      good[:len(good)-1],
	}
	for name, der := range cases {
		if _, err := Parse(der); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: %v, want ErrFormat", name, err)
		}
	}
}

func TestCheckSigner(t *testing.T) {
	p, other := newPair(t, "db", 1), newPair(t, "other", 2)
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckSigner(p.cert, p.signer); err != nil {
		t.Errorf("matching pair: %v", err)
	}
	for name, c := range map[string]struct {
		cert   *x509.Certificate
		signer crypto.Signer
	}{
		"no certificate":       {nil, p.signer},
		"no signer":            {p.cert, nil},
		"unparsed certificate": {&x509.Certificate{PublicKey: p.cert.PublicKey}, p.signer},
		"another key":          {p.cert, other.signer},
		"non-RSA signer":       {p.cert, ec},
	} {
		if err := CheckSigner(c.cert, c.signer); !errors.Is(err, ErrKey) {
			t.Errorf("%s: %v, want ErrKey", name, err)
		}
	}
}

// FuzzParse: a parser of untrusted bytes returns an error, never panics, and what it
// accepts can be asked to verify without panicking either.
func FuzzParse(f *testing.F) {
	p := newPair(f, "db", 1)
	f.Add(detached(f, p, []byte("x")))
	f.Add(withAttributes(f, p, OIDData, []byte("x")))
	f.Add([]byte{0x30, 0x00})
	f.Fuzz(func(t *testing.T, der []byte) {
		sd, err := Parse(der)
		if err != nil {
			return
		}
		for _, si := range sd.SignerInfos {
			_ = si.Verify(p.cert, OIDData, []byte("x"))
		}
	})
}
