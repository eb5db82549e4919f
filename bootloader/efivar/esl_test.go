package efivar

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// TestX509ListLayout checks the bytes against the specification's
// EFI_SIGNATURE_LIST: type, list size, header size 0, signature size
// (owner + certificate), then owner and certificate.
func TestX509ListLayout(t *testing.T) {
	pk := loadTestPair(t, "PK")
	esl := testESL(t, pk)
	n := len(pk.cert.Raw)
	if len(esl) != 28+16+n {
		t.Fatalf("length %d, want %d", len(esl), 28+16+n)
	}
	checks := []struct {
		what      string
		got, want []byte
	}{
		{"SignatureType", esl[0:16], CertX509.AppendEFI(nil)},
		{"SignatureListSize", esl[16:20], le32(uint32(28 + 16 + n))},
		{"SignatureHeaderSize", esl[20:24], le32(0)},
		{"SignatureSize", esl[24:28], le32(uint32(16 + n))},
		{"SignatureOwner", esl[28:44], testOwner.AppendEFI(nil)},
		{"SignatureData", esl[44:], pk.cert.Raw},
	}
	for _, c := range checks {
		if !bytes.Equal(c.got, c.want) {
			t.Errorf("%s = % x, want % x", c.what, head(c.got), head(c.want))
		}
	}
}

func TestParseSignatureListsRoundTrip(t *testing.T) {
	pk, db := loadTestPair(t, "PK"), loadTestPair(t, "db")
	two := SignatureList{Type: CertX509, Header: []byte{1, 2, 3}, Signatures: []SignatureData{
		{Owner: testOwner, Data: pk.cert.Raw}, {Owner: GlobalVariable, Data: db.cert.Raw},
	}}
	twoBytes, err := two.MarshalBinary()
	if err != nil {
		t.Fatal(err) // the PK and db test certificates have the same length
	}
	all := append(testESL(t, pk), twoBytes...)
	lists, err := ParseSignatureLists(all)
	if err != nil {
		t.Fatal(err)
	}
	if len(lists) != 2 || len(lists[1].Signatures) != 2 || !bytes.Equal(lists[1].Header, two.Header) {
		t.Fatalf("parsed %+v", lists)
	}
	var again []byte
	for _, l := range lists {
		b, err := l.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		again = append(again, b...)
	}
	if !bytes.Equal(again, all) {
		t.Error("parse + marshal changed the bytes")
	}
	certs, err := Certificates(lists)
	if err != nil || len(certs) != 3 || !certs[0].Equal(pk.cert) || !certs[2].Equal(db.cert) {
		t.Errorf("Certificates: %d certs, %v", len(certs), err)
	}
	if lists[1].Signatures[1].Owner != GlobalVariable {
		t.Errorf("owner %v", lists[1].Signatures[1].Owner)
	}
}

func TestMarshalRejects(t *testing.T) {
	if _, err := (SignatureList{Type: CertX509}).MarshalBinary(); !errors.Is(err, ErrSignatureList) {
		t.Errorf("empty list: %v", err)
	}
	mixed := SignatureList{Type: CertX509, Signatures: []SignatureData{{Data: []byte{1}}, {Data: []byte{1, 2}}}}
	if _, err := mixed.MarshalBinary(); !errors.Is(err, ErrSignatureList) {
		t.Errorf("mixed sizes: %v", err)
	}
}

func TestParseSignatureListsRejects(t *testing.T) {
	good := testESL(t, loadTestPair(t, "PK"))
	mutate := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	cases := map[string][]byte{
		"short header":        good[:27],
		"truncated":           good[:len(good)-1],
		"list size too big":   mutate(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[16:], 0xffffffff); return b }),
		"list size too small": mutate(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[16:], 27); return b }),
		"header too big":      mutate(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[20:], 0xffffffff); return b }),
		"signature size 15":   mutate(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[24:], 15); return b }),
		"not a multiple":      mutate(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[24:], 17); return b }),
		"trailing garbage":    append(append([]byte(nil), good...), 1, 2, 3),
	}
	for name, b := range cases {
		if _, err := ParseSignatureLists(b); !errors.Is(err, ErrSignatureList) {
			t.Errorf("%s: error %v, want ErrSignatureList", name, err)
		}
	}
	if lists, err := ParseSignatureLists(nil); err != nil || len(lists) != 0 {
		t.Errorf("empty variable: %v, %v", lists, err)
	}
}

func le32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }

func head(b []byte) []byte {
	if len(b) > 16 {
		return b[:16]
	}
	return b
}
