package efivar

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func addGoldenSeeds(f *testing.F, names ...string) {
	for _, name := range names {
		if b, err := os.ReadFile(filepath.Join("testdata", name)); err == nil {
			f.Add(b)
		}
	}
}

// FuzzParseSignatureLists: never panics, and what parses marshals back to
// the same bytes.
func FuzzParseSignatureLists(f *testing.F) {
	addGoldenSeeds(f, "PK.esl")
	f.Add([]byte{})
	f.Add(make([]byte, 28))
	f.Fuzz(func(t *testing.T, b []byte) {
		lists, err := ParseSignatureLists(b)
		if err != nil {
			return
		}
		var again []byte
		for _, l := range lists {
			if len(l.Signatures) == 0 {
				return // a list of only headers is legal to read, not to write
			}
			m, err := l.MarshalBinary()
			if err != nil {
				t.Fatalf("parsed list does not marshal: %v", err)
			}
			again = append(again, m...)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("round trip changed %d bytes into %d", len(b), len(again))
		}
	})
}

// FuzzParseAuth: parsing and verifying untrusted .auth bytes never panics.
func FuzzParseAuth(f *testing.F) {
	addGoldenSeeds(f, "PK.auth", "KEK.auth", "db.auth")
	pk := loadTestPair(f, "PK")
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := ParseAuth(b); err != nil {
			return
		}
		_ = VerifyAuth("PK", GlobalVariable, AttrsSecureBoot, b, pk.cert)
	})
}
