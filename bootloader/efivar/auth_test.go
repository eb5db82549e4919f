package efivar

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/kiln-os/kiln/internal/guid"
	"github.com/kiln-os/kiln/internal/pkcs7"
)

// TestAuthLayout checks EFI_VARIABLE_AUTHENTICATION_2 field by field.
func TestAuthLayout(t *testing.T) {
	auth := buildAuth(t, enrolmentChain[0])
	esl := testESL(t, loadTestPair(t, "PK"))
	wantTime := []byte{0xe8, 0x07, 1, 2, 3, 4, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0} // 2024-01-02 03:04:05, the rest zero
	if !bytes.Equal(auth[:16], wantTime) {
		t.Errorf("TimeStamp % x, want % x", auth[:16], wantTime)
	}
	dwLength := binary.LittleEndian.Uint32(auth[16:])
	if got := binary.LittleEndian.Uint16(auth[20:]); got != 0x0200 {
		t.Errorf("wRevision %#x", got)
	}
	if got := binary.LittleEndian.Uint16(auth[22:]); got != 0x0ef1 {
		t.Errorf("wCertificateType %#x", got)
	}
	if !bytes.Equal(auth[24:40], CertTypePKCS7.AppendEFI(nil)) {
		t.Errorf("CertType % x", auth[24:40])
	}
	if int(dwLength)+16 != len(auth)-len(esl) || !bytes.Equal(auth[16+dwLength:], esl) {
		t.Errorf("dwLength %d does not put the payload at the end of %d bytes", dwLength, len(auth))
	}
}

// TestAuthPKCS7IsBareSignedData pins the form EDK2 2022.11 (Debian 12's
// OVMF) requires: a SignedData, not a ContentInfo, with a two-byte length
// (second byte 0x82) and the SHA-256 OID at offset 13. See the package doc.
func TestAuthPKCS7IsBareSignedData(t *testing.T) {
	for _, c := range enrolmentChain {
		a, err := ParseAuth(buildAuth(t, c))
		if err != nil {
			t.Fatal(err)
		}
		p7 := a.PKCS7
		sha256OID := []byte{0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01}
		if p7[0] != 0x30 || p7[1] != 0x82 || !bytes.Equal(p7[13:22], sha256OID) {
			t.Errorf("%s: PKCS#7 starts % x; EDK2 wants 30 82 .. and the SHA-256 OID at 13", c.name, p7[:24])
		}
		if _, _, err := pkcs7.ParseContentInfo(p7); err == nil {
			t.Errorf("%s: the PKCS#7 parses as a ContentInfo; EDK2 wants a bare SignedData", c.name)
		}
		sd, err := pkcs7.Parse(p7)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if len(sd.SignerInfos) != 1 || len(sd.SignerInfos[0].Attributes.FullBytes) != 0 {
			t.Errorf("%s: want one signer without signed attributes", c.name)
		}
		if len(sd.Content.Content.FullBytes) != 0 || !sd.Content.Type.Equal(pkcs7.OIDData) {
			t.Errorf("%s: content not detached", c.name)
		}
	}
}

func TestAuthDeterministic(t *testing.T) {
	for _, c := range enrolmentChain {
		if !bytes.Equal(buildAuth(t, c), buildAuth(t, c)) {
			t.Errorf("%s.auth differs between two runs", c.name)
		}
	}
}

// TestVerifyChain proves each file is signed by the key above it in the
// chain, and by no other.
func TestVerifyChain(t *testing.T) {
	for _, c := range enrolmentChain {
		auth := buildAuth(t, c)
		for _, role := range []string{"PK", "KEK", "db"} {
			err := VerifyAuth(c.name, c.vendor, AttrsSecureBoot, auth, loadTestPair(t, role).cert)
			if role == c.signedBy && err != nil {
				t.Errorf("%s.auth does not verify with %s: %v", c.name, role, err)
			}
			if role != c.signedBy && !errors.Is(err, ErrSignature) {
				t.Errorf("%s.auth verified with %s (err %v), want ErrSignature", c.name, role, err)
			}
		}
	}
}

// TestVerifyBindsEverything changes each input of the signed serialization
// and expects the signature to fail.
func TestVerifyBindsEverything(t *testing.T) {
	pk := loadTestPair(t, "PK")
	auth := buildAuth(t, enrolmentChain[1]) // KEK signed by PK
	if err := VerifyAuth("KEK", GlobalVariable, AttrsSecureBoot, auth, pk.cert); err != nil {
		t.Fatal(err)
	}
	tamperedPayload := append([]byte(nil), auth...)
	tamperedPayload[len(tamperedPayload)-1] ^= 1
	tamperedTime := append([]byte(nil), auth...)
	tamperedTime[6]++ // the seconds
	cases := []struct {
		what   string
		name   string
		vendor guid.GUID
		attrs  uint32
		auth   []byte
	}{
		{"name", "PK", GlobalVariable, AttrsSecureBoot, auth},
		{"vendor", "KEK", ImageSecurityDatabase, AttrsSecureBoot, auth},
		{"attributes", "KEK", GlobalVariable, AttrsSecureBoot | AttrAppendWrite, auth},
		{"payload", "KEK", GlobalVariable, AttrsSecureBoot, tamperedPayload},
		{"timestamp", "KEK", GlobalVariable, AttrsSecureBoot, tamperedTime},
	}
	for _, c := range cases {
		if err := VerifyAuth(c.name, c.vendor, c.attrs, c.auth, pk.cert); !errors.Is(err, ErrSignature) {
			t.Errorf("changed %s: error %v, want ErrSignature", c.what, err)
		}
	}
}

// TestVerifyAcceptsContentInfo: the wrapped form newer EDK2 accepts verifies too.
func TestVerifyAcceptsContentInfo(t *testing.T) {
	pk := loadTestPair(t, "PK")
	input := []byte("signed bytes")
	bare, err := signDetached(input, pk.cert, pk.signer)
	if err != nil {
		t.Fatal(err)
	}
	wrapped := wrapContentInfo(t, bare)
	for name, p7 := range map[string][]byte{"bare": bare, "wrapped": wrapped} {
		if err := verifyDetached(p7, input, pk.cert); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func wrapContentInfo(t testing.TB, signedData []byte) []byte {
	t.Helper()
	var e pkcs7.Encoder
	der := e.ContentInfo(pkcs7.OIDSignedData, signedData)
	if e.Err != nil {
		t.Fatal(e.Err)
	}
	return der
}

func TestAuthVariableRejects(t *testing.T) {
	pk, kek := loadTestPair(t, "PK"), loadTestPair(t, "KEK")
	esl := testESL(t, pk)
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		what string
		name string
		ts   time.Time
		sign crypto.Signer
		want error
	}{
		{"key of another certificate", "PK", testTime, kek.signer, ErrPKCS7},
		{"non-RSA key", "PK", testTime, ec, ErrPKCS7},
		{"year before 1900", "PK", time.Date(1899, 12, 31, 0, 0, 0, 0, time.UTC), pk.signer, ErrTime},
		{"zero time", "PK", time.Time{}, pk.signer, ErrTime},
	}
	for _, c := range cases {
		_, err := AuthVariable(c.name, GlobalVariable, AttrsSecureBoot, c.ts, esl, pk.cert, c.sign)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: error %v, want %v", c.what, err, c.want)
		}
	}
	for _, name := range []string{"", "P\x00K"} {
		if _, err := AuthVariable(name, GlobalVariable, AttrsSecureBoot, testTime, esl, pk.cert, pk.signer); err == nil {
			t.Errorf("name %q accepted", name)
		}
	}
}

func TestParseAuthRejects(t *testing.T) {
	good := buildAuth(t, enrolmentChain[0])
	mutate := func(f func(b []byte)) []byte {
		b := append([]byte(nil), good...)
		f(b)
		return b
	}
	setByte := func(off int, v byte) []byte { return mutate(func(b []byte) { b[off] = v }) }
	setLength := func(v uint32) []byte { return mutate(func(b []byte) { binary.LittleEndian.PutUint32(b[16:], v) }) }
	cases := map[string]struct {
		b    []byte
		want error
	}{
		"short":              {good[:39], ErrAuth},
		"nanoseconds":        {setByte(8, 1), ErrTime},
		"time zone":          {setByte(12, 1), ErrTime},
		"month 13":           {setByte(2, 13), ErrTime},
		"february 30":        {mutate(func(b []byte) { b[2], b[3] = 2, 30 }), ErrTime},
		"revision":           {setByte(21, 0x01), ErrAuth},
		"certificate type":   {setByte(22, 0x02), ErrAuth},
		"cert type GUID":     {setByte(24, 0x00), ErrAuth},
		"dwLength too big":   {setLength(uint32(len(good))), ErrAuth},
		"dwLength too small": {setLength(23), ErrAuth},
	}
	for name, c := range cases {
		if _, err := ParseAuth(c.b); !errors.Is(err, c.want) {
			t.Errorf("%s: error %v, want %v", name, err, c.want)
		}
	}
}
