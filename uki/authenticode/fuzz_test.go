package authenticode

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
)

// fuzzSeeds adds the golden images, signed and unsigned, and the signed
// blob alone at the start of a minimal image.
func fuzzSeeds(f *testing.F) {
	for _, name := range []string{
		filepath.Join("testdata", "tiny-uki-signed.efi"),
		filepath.Join("..", "pe", "testdata", "tiny-uki.efi"),
	} {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("MZ"))
}

// FuzzVerify feeds arbitrary bytes to Verify: it must return an error or
// nil, never panic, and it must never accept an image whose hash it
// cannot compute.
func FuzzVerify(f *testing.F) {
	fuzzSeeds(f)
	db := loadKey(f, "db")
	roots := []*x509.Certificate{db.cert}
	f.Fuzz(func(t *testing.T, b []byte) {
		if Verify(b, roots) == nil {
			if _, err := Hash(b); err != nil {
				t.Fatalf("Verify accepted an image that Hash rejects: %v", err)
			}
		}
	})
}

// FuzzHash feeds arbitrary bytes to Hash and, when it succeeds, to Sign:
// neither may panic, and what Sign makes must verify.
func FuzzHash(f *testing.F) {
	fuzzSeeds(f)
	db := loadKey(f, "db")
	roots := []*x509.Certificate{db.cert}
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := Hash(b); err != nil {
			return
		}
		signed, err := Sign(b, db.cert, db.signer)
		if err != nil {
			return
		}
		if err := Verify(signed, roots); err != nil {
			t.Fatalf("Verify rejects what Sign made: %v", err)
		}
	})
}

// FuzzSignature feeds arbitrary bytes to the PKCS#7 parser and the signer
// checks directly, which reach them faster than through whole images.
func FuzzSignature(f *testing.F) {
	if signed, err := os.ReadFile(filepath.Join("testdata", "tiny-uki-signed.efi")); err == nil {
		f.Add(signedBlob(f, signed))
	}
	f.Add([]byte{0x30, 0x00})
	db := loadKey(f, "db")
	f.Fuzz(func(t *testing.T, blob []byte) {
		sig, err := parseSignature(blob)
		if err != nil {
			return
		}
		if signer, err := sig.verifySigner(); err == nil {
			_ = checkTrust(signer, sig.certs, []*x509.Certificate{db.cert})
		}
	})
}
