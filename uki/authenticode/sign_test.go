package authenticode

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/kiln-os/kiln/uki/pe"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestGolden pins the bytes of the tiny UKI signed with the test db key;
// see testdata/README.md.
func TestGolden(t *testing.T) {
	got := sign(t, tinyUKI(t), loadKey(t, "db"))
	golden := filepath.Join("testdata", "tiny-uki-signed.efi")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("signed UKI differs from %s (run with -update if the change is intended)", golden)
	}
}

// TestSignReproducible signs twice, re-signs a signed image and replaces
// another key's signature: all must give the same bytes.
func TestSignReproducible(t *testing.T) {
	db, other := loadKey(t, "db"), loadKey(t, "other")
	uki := tinyUKI(t)
	first := sign(t, uki, db)
	if again := sign(t, uki, db); !bytes.Equal(first, again) {
		t.Errorf("two signings of the same image differ")
	}
	if resigned := sign(t, first, db); !bytes.Equal(first, resigned) {
		t.Errorf("re-signing a signed image does not give the same bytes")
	}
	if replaced := sign(t, sign(t, uki, other), db); !bytes.Equal(first, replaced) {
		t.Errorf("replacing another key's signature does not give the same bytes")
	}
}

// TestSignLayout checks the certificate table and the headers of a signed
// image.
func TestSignLayout(t *testing.T) {
	uki := tinyUKI(t)
	signed := sign(t, uki, loadKey(t, "db"))
	f, err := pe.Parse(signed)
	if err != nil {
		t.Fatal(err)
	}
	dir := f.DataDirectory[pe.DirSecurity]
	if int(dir.VirtualAddress) != len(uki) || int(dir.VirtualAddress+dir.Size) != len(signed) || dir.Size%8 != 0 {
		t.Errorf("certificate table %+v in a signed image of %d bytes (unsigned %d)", dir, len(signed), len(uki))
	}
	entry := signed[dir.VirtualAddress:]
	if rev, kind := binary.LittleEndian.Uint16(entry[4:]), binary.LittleEndian.Uint16(entry[6:]); rev != 0x0200 || kind != 2 {
		t.Errorf("WIN_CERTIFICATE revision %#x type %#x", rev, kind)
	}
	if got := pe.Checksum(signed, f.CheckSumOffset()); got != f.OptionalHeader.CheckSum {
		t.Errorf("CheckSum field %#x, computed %#x", f.OptionalHeader.CheckSum, got)
	}
	if !bytes.Equal(signed[:f.CheckSumOffset()], uki[:f.CheckSumOffset()]) {
		t.Errorf("signing changed the headers before the checksum")
	}
}

// TestSignPads signs an image whose length is not a multiple of 8: the
// zero padding comes before the table and is part of the hash.
func TestSignPads(t *testing.T) {
	uki := append(tinyUKI(t), "odd"...)
	db := loadKey(t, "db")
	signed := sign(t, uki, db)
	f, err := pe.Parse(signed)
	if err != nil {
		t.Fatal(err)
	}
	if start := f.DataDirectory[pe.DirSecurity].VirtualAddress; start%8 != 0 || int(start) != len(uki)+5 {
		t.Errorf("certificate table at %#x for an image of %#x bytes", start, len(uki))
	}
	if err := Verify(signed, []*x509.Certificate{db.cert}); err != nil {
		t.Errorf("Verify: %v", err)
	}
	padded := append(uki, 0, 0, 0, 0, 0)
	if a, b := mustHash(t, signed), mustHash(t, padded); !bytes.Equal(a, b) {
		t.Errorf("hash of the signed image %x, of the padded unsigned one %x", a, b)
	}
}

func TestSignRejects(t *testing.T) {
	db, other := loadKey(t, "db"), loadKey(t, "other")
	uki := tinyUKI(t)
	tests := []struct {
		name  string
		image []byte
		cert  *x509.Certificate
		key   testKey
		want  error
	}{
		{"key of another certificate", uki, db.cert, other, ErrKey},
		{"no certificate", uki, nil, db, ErrKey},
		{"unparsed certificate", uki, &x509.Certificate{PublicKey: db.cert.PublicKey}, db, ErrKey},
		{"not a PE image", []byte("MZ"), db.cert, db, pe.ErrFormat},
		{"table not at the end", append(sign(t, uki, db), 0), db.cert, db, ErrFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Sign(tt.image, tt.cert, tt.key.signer)
			if !errors.Is(err, tt.want) {
				t.Errorf("Sign: %v, want %v", err, tt.want)
			}
		})
	}
}

// TestHashSkips checks what the image hash covers: not the CheckSum, not
// the certificate table entry, everything else.
func TestHashSkips(t *testing.T) {
	uki := tinyUKI(t)
	f, err := pe.Parse(uki)
	if err != nil {
		t.Fatal(err)
	}
	base := mustHash(t, uki)
	dirOff, _ := f.DataDirectoryOffset(pe.DirSecurity)
	for _, off := range []int{f.CheckSumOffset(), f.CheckSumOffset() + 3} {
		if !bytes.Equal(mustHash(t, flip(uki, off)), base) {
			t.Errorf("changing byte %#x of the CheckSum changed the hash", off)
		}
	}
	linkerVersion := f.CheckSumOffset() - 62
	for _, off := range []int{0x40, linkerVersion, dirOff - 1, dirOff + 8, f.SectionTableOffset(), sectionOffset(t, uki, ".initrd") + 5, len(uki) - 1} {
		if bytes.Equal(mustHash(t, flip(uki, off)), base) {
			t.Errorf("changing byte %#x did not change the hash", off)
		}
	}
	signed := sign(t, uki, loadKey(t, "db"))
	if !bytes.Equal(mustHash(t, signed), base) {
		t.Errorf("the hash of the signed image differs from the unsigned one")
	}
}

// TestHashByHand hashes an image without gaps or trailing data the simple
// way: everything but the CheckSum and the certificate table entry.
func TestHashByHand(t *testing.T) {
	uki := tinyUKI(t)
	f, err := pe.Parse(uki)
	if err != nil {
		t.Fatal(err)
	}
	dirOff, _ := f.DataDirectoryOffset(pe.DirSecurity)
	h := sha256.New()
	h.Write(uki[:f.CheckSumOffset()])
	h.Write(uki[f.CheckSumOffset()+4 : dirOff])
	h.Write(uki[dirOff+8:]) // no gaps, no trailing data: the rest in order
	if got := mustHash(t, uki); !bytes.Equal(got, h.Sum(nil)) {
		t.Errorf("Hash = %x, by hand %x", got, h.Sum(nil))
	}
}

func mustHash(t testing.TB, image []byte) []byte {
	t.Helper()
	h, err := Hash(image)
	if err != nil {
		t.Fatalf("Hash: %v", err)
	}
	return h
}
