package tpmseal

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-tpm/tpm2"
)

// fakeKeyName is a SHA-256 TPM Name; the blob tests need no key behind it.
var fakeKeyName = append([]byte{0x00, 0x0B}, bytes.Repeat([]byte{0xAA}, 32)...)

// fakeBlob builds a Blob the way Seal would, without a TPM: public from sealedTemplate,
// an opaque private.
func fakeBlob(t testing.TB, pcr7 []byte, edit func(*tpm2.TPMTPublic)) *Blob {
	t.Helper()
	digest, err := policyDigest(fakeKeyName, pcr7)
	if err != nil {
		t.Fatal(err)
	}
	public := sealedTemplate(digest)
	public.Unique = tpm2.NewTPMUPublicID(tpm2.TPMAlgKeyedHash, &tpm2.TPM2BDigest{Buffer: bytes.Repeat([]byte{0x55}, 32)})
	if edit != nil {
		edit(&public)
	}
	blob := &Blob{
		Version:      BlobVersion,
		SRK:          SRKTemplate,
		Public:       tpm2.Marshal(tpm2.New2B(public)),
		Private:      tpm2.Marshal(tpm2.TPM2BPrivate{Buffer: bytes.Repeat([]byte{0x66}, 180)}),
		PCRKeyName:   hexString(fakeKeyName),
		PolicyDigest: hexString(digest),
	}
	if pcr7 != nil {
		blob.PCR7 = hexString(pcr7)
	}
	return blob
}

// rawJSON is json.Marshal of b without the checks of Blob.Marshal.
func rawJSON(t testing.TB, b *Blob) []byte {
	t.Helper()
	data, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestBlobRoundTrip(t *testing.T) {
	for _, pcr7 := range [][]byte{nil, bytes.Repeat([]byte{7}, 32)} {
		blob := fakeBlob(t, pcr7, nil)
		data, err := blob.Marshal()
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		got, err := ParseBlob(data)
		if err != nil {
			t.Fatalf("ParseBlob: %v\n%s", err, data)
		}
		if !reflect.DeepEqual(got, blob) {
			t.Errorf("ParseBlob(Marshal(b)) = %+v, want %+v", got, blob)
		}
	}
}

func TestParseBlobRejects(t *testing.T) {
	pcr7 := bytes.Repeat([]byte{7}, 32)
	valid := func() *Blob { return fakeBlob(t, pcr7, nil) }
	edited := func(edit func(*Blob)) []byte {
		b := valid()
		edit(b)
		return rawJSON(t, b)
	}
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"not JSON", []byte("sealed"), "invalid character"},
		{"unknown field", bytes.Replace(rawJSON(t, valid()), []byte(`{`), []byte(`{"pin":"1234",`), 1), "unknown field"},
		{"trailing data", append(rawJSON(t, valid()), []byte("{}")...), "data after"},
		{"too large", append(rawJSON(t, valid()), bytes.Repeat([]byte(" "), maxBlobJSON)...), "at most"},
		{"version", edited(func(b *Blob) { b.Version = 2 }), "version 2"},
		{"SRK template", edited(func(b *Blob) { b.SRK = "tcg-rsa-2048-srk" }), "parent key template"},
		{"upper-case hex", edited(func(b *Blob) { b.PCRKeyName = strings.ToUpper(b.PCRKeyName) }), "pcrKeyName"},
		{"SHA-1 key name", edited(func(b *Blob) { b.PCRKeyName = "0004" + b.PCRKeyName[4:] }), "not a SHA-256 Name"},
		{"PCR 7 dropped", edited(func(b *Blob) { b.PCR7 = "" }), "does not follow"},
		{"short PCR 7", edited(func(b *Blob) { b.PCR7 = b.PCR7[:40] }), "pcr7"},
		{"user with auth", rawJSON(t, fakeBlob(t, pcr7, func(p *tpm2.TPMTPublic) { p.ObjectAttributes.UserWithAuth = true })), "attributes"},
		{"not fixed", rawJSON(t, fakeBlob(t, pcr7, func(p *tpm2.TPMTPublic) { p.ObjectAttributes.FixedTPM = false })), "attributes"},
		{"other policy", rawJSON(t, fakeBlob(t, pcr7, func(p *tpm2.TPMTPublic) { p.AuthPolicy.Buffer = make([]byte, 32) })), "authPolicy"},
		{"public trailing", edited(func(b *Blob) { b.Public = append(b.Public, 0) }), "trailing"},
		{"public truncated", edited(func(b *Blob) { b.Public = b.Public[:len(b.Public)-1] }), "public"},
		{"private empty", edited(func(b *Blob) { b.Private = []byte{0, 0} }), "empty"},
		{"private large", edited(func(b *Blob) { b.Private = make([]byte, maxTPM2BPriv+1) }), "at most"},
	}
	for _, tt := range tests {
		_, err := ParseBlob(tt.data)
		if !errors.Is(err, ErrBlob) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %v mentioning %q", tt.name, err, ErrBlob, tt.want)
		}
	}
}

func TestBlobMarshalRefusesInvalid(t *testing.T) {
	blob := fakeBlob(t, nil, nil)
	blob.PolicyDigest = hexString(make([]byte, 32))
	if _, err := blob.Marshal(); !errors.Is(err, ErrBlob) {
		t.Errorf("Marshal of a blob with a wrong digest: err = %v, want %v", err, ErrBlob)
	}
}

func FuzzParseBlob(f *testing.F) {
	for _, pcr7 := range [][]byte{nil, bytes.Repeat([]byte{7}, 32)} {
		data, err := fakeBlob(f, pcr7, nil).Marshal()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
		f.Add(data[:len(data)/2])
	}
	f.Add([]byte(`{"version":1,"srk":"tcg-ecc-p256-srk","public":"AAA=","private":"AAA="}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		blob, err := ParseBlob(data)
		if err != nil {
			if !errors.Is(err, ErrBlob) {
				t.Fatalf("error %v is not %v", err, ErrBlob)
			}
			return
		}
		again, err := blob.Marshal()
		if err != nil {
			t.Fatalf("ParseBlob accepted what Marshal refuses: %v", err)
		}
		if reparsed, err := ParseBlob(again); err != nil || !reflect.DeepEqual(reparsed, blob) {
			t.Fatalf("ParseBlob(Marshal(blob)) = %+v, %v; want %+v", reparsed, err, blob)
		}
	})
}
