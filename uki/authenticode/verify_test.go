package authenticode

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/kiln-os/kiln/uki/pe"
)

// errAny stands for "some error" where which one depends on the byte hit.
var errAny = errors.New("any error")

func TestVerify(t *testing.T) {
	db, other := loadKey(t, "db"), loadKey(t, "other")
	uki := tinyUKI(t)
	signed := sign(t, uki, db)
	table := len(uki)
	tests := []struct {
		name  string
		image []byte
		roots []*x509.Certificate
		want  error
	}{
		{"signed by db", signed, []*x509.Certificate{db.cert}, nil},
		{"db among others", signed, []*x509.Certificate{nil, other.cert, db.cert}, nil},
		{"another root", signed, []*x509.Certificate{other.cert}, ErrUntrusted},
		{"no roots", signed, nil, ErrUntrusted},
		{"unsigned", uki, []*x509.Certificate{db.cert}, ErrNotSigned},
		{"section byte changed", flip(signed, sectionOffset(t, signed, ".cmdline")), []*x509.Certificate{db.cert}, ErrDigest},
		{"header byte changed", flip(signed, 0x40), []*x509.Certificate{db.cert}, ErrDigest},
		{"signature byte changed", flip(signed, table+8+len(signedBlob(t, signed))-1), []*x509.Certificate{db.cert}, ErrSignature},
		{"signed data byte changed", flip(signed, table+0x100), []*x509.Certificate{db.cert}, errAny},
		{"byte after the table", append(signed[:len(signed):len(signed)], 0), []*x509.Certificate{db.cert}, ErrFormat},
		{"table cut short", cutTable(signed, 8), []*x509.Certificate{db.cert}, ErrFormat},
		{"unknown certificate type", setUint16(signed, table+6, 1), []*x509.Certificate{db.cert}, ErrUnsupported},
		{"dwLength past the table", setUint32(signed, table, 0x10000), []*x509.Certificate{db.cert}, ErrFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Verify(tt.image, tt.roots)
			if tt.want == errAny && err != nil {
				return
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("Verify: %v, want %v", err, tt.want)
			}
		})
	}
}

// TestVerifyChain signs with a leaf certificate that the db CA issued: the
// signature carries only the leaf, and Verify must find db as its issuer.
func TestVerifyChain(t *testing.T) {
	db, other := loadKey(t, "db"), loadKey(t, "other")
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(42),
		Subject:      pkix.Name{CommonName: "Kiln test leaf"},
		NotBefore:    time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:     time.Date(2124, 1, 1, 0, 0, 0, 0, time.UTC),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, db.cert, other.signer.Public(), db.signer)
	if err != nil {
		t.Fatal(err)
	}
	leafCert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	leaf := testKey{cert: leafCert, signer: other.signer}
	signed := sign(t, tinyUKI(t), leaf)
	if err := Verify(signed, []*x509.Certificate{db.cert}); err != nil {
		t.Errorf("Verify against the issuing CA: %v", err)
	}
	if err := Verify(signed, []*x509.Certificate{leafCert}); err != nil {
		t.Errorf("Verify against the leaf itself: %v", err)
	}
	// other.crt has the leaf's key but is not its issuer.
	if err := Verify(signed, []*x509.Certificate{other.cert}); !errors.Is(err, ErrUntrusted) {
		t.Errorf("Verify against a certificate with the same key: %v, want ErrUntrusted", err)
	}
}

// signedBlob returns the PKCS#7 bytes of a signed image.
func signedBlob(t testing.TB, signed []byte) []byte {
	t.Helper()
	f, err := pe.Parse(signed)
	if err != nil {
		t.Fatal(err)
	}
	ct, err := locateCertTable(f, signed)
	if err != nil {
		t.Fatal(err)
	}
	blob, err := pkcs7Blob(signed[ct.start:])
	if err != nil {
		t.Fatal(err)
	}
	return blob
}

// cutTable drops n bytes from the end of the certificate table and its
// directory entry.
func cutTable(signed []byte, n int) []byte {
	f, _ := pe.Parse(signed)
	off, _ := f.DataDirectoryOffset(pe.DirSecurity)
	out := append([]byte(nil), signed[:len(signed)-n]...)
	binary.LittleEndian.PutUint32(out[off+4:], f.DataDirectory[pe.DirSecurity].Size-uint32(n))
	return out
}

func setUint16(b []byte, off int, v uint16) []byte {
	out := append([]byte(nil), b...)
	binary.LittleEndian.PutUint16(out[off:], v)
	return out
}

func setUint32(b []byte, off int, v uint32) []byte {
	out := append([]byte(nil), b...)
	binary.LittleEndian.PutUint32(out[off:], v)
	return out
}

// Signer returns the certificate that signed the image, whoever that is, and the same
// errors as Verify for an image that is unsigned or does not match its signature.
func TestSigner(t *testing.T) {
	db, other := loadKey(t, "db"), loadKey(t, "other")
	uki := tinyUKI(t)
	for _, k := range []testKey{db, other} {
		got, err := Signer(sign(t, uki, k))
		if err != nil || !got.Equal(k.cert) {
			t.Errorf("Signer = %v, %v; want %s", got, err, k.cert.Subject)
		}
	}
	if _, err := Signer(uki); !errors.Is(err, ErrNotSigned) {
		t.Errorf("unsigned: %v, want %v", err, ErrNotSigned)
	}
	signed := sign(t, uki, db)
	if _, err := Signer(flip(signed, sectionOffset(t, signed, ".cmdline"))); !errors.Is(err, ErrDigest) {
		t.Errorf("modified: %v, want %v", err, ErrDigest)
	}
}
