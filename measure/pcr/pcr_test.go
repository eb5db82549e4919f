package pcr

// Vectors: computed with Python's hashlib from the formulas in TPM 2.0
// Part 3 (independent of this code), and where noted taken from
// `systemd-measure sign` 252 run against swtpm. swtpm_test.go checks the
// TPM-side ones against a software TPM on every run where swtpm exists.

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"os"
	"testing"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// testPublicKey is testdata/pcr-test.pub, made with
// `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048` and
// `openssl pkey -pubout`; it guards nothing.
func testPublicKey(t *testing.T) *rsa.PublicKey {
	t.Helper()
	b, err := os.ReadFile("testdata/pcr-test.pub")
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatal("testdata/pcr-test.pub: no PEM block")
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return pub.(*rsa.PublicKey)
}

func TestExtend(t *testing.T) {
	tests := []struct {
		bank crypto.Hash
		want string
	}{
		{crypto.SHA256, "589f9ffed4c477966bfb8d41f37895b08c69047df8f911d6f3b57fbe08faee8d"},
		{crypto.SHA384, "93732e3733514a841c982cfa75ea76ab55fe011acb9cd980ef4523913c65be1b0998e04d77f8c174f81a82151619ca40"},
	}
	for _, tt := range tests {
		got := Extend(tt.bank, Zero(tt.bank), []byte("abc"))
		if hex.EncodeToString(got) != tt.want {
			t.Errorf("Extend(%v, zero, abc) = %x, want %s", tt.bank, got, tt.want)
		}
		if replay := Replay(tt.bank, []byte("abc")); !bytes.Equal(replay, got) {
			t.Errorf("Replay(%v, abc) = %x, want %x", tt.bank, replay, got)
		}
	}
}

func TestReplayOrder(t *testing.T) {
	a, b := []byte("a"), []byte("b")
	step := Extend(crypto.SHA256, Extend(crypto.SHA256, Zero(crypto.SHA256), a), b)
	if !bytes.Equal(Replay(crypto.SHA256, a, b), step) {
		t.Error("Replay(a, b) differs from Extend(Extend(zero, a), b)")
	}
	if bytes.Equal(Replay(crypto.SHA256, b, a), step) {
		t.Error("Replay ignores order")
	}
	if !bytes.Equal(Replay(crypto.SHA1), Zero(crypto.SHA1)) {
		t.Error("Replay with no events is not zero")
	}
}

func TestPolicyPCRDigest(t *testing.T) {
	// The PCR 11 value of a UKI whose only section is .linux = "kernel",
	// and the "pol" systemd-measure 252 signed for it.
	pcr11 := unhex(t, "ff4d55cd85724de92ab538c82df0dd57ae0b5281e088a1a64df159f33c343702")
	got, err := PolicyPCRDigest(crypto.SHA256, []int{11}, [][]byte{pcr11})
	if err != nil {
		t.Fatal(err)
	}
	if want := "43bc24086b06a474692fa8e1d5373479c72c428ceb8b5e00197239f852cd40dd"; hex.EncodeToString(got) != want {
		t.Errorf("PolicyPCRDigest(sha256, [11]) = %x, want %s", got, want)
	}
}

func TestPolicyPCRDigestTwoPCRs(t *testing.T) {
	zero, ones := Zero(crypto.SHA256), bytes.Repeat([]byte{1}, 32)
	want := "3e382215293d4c92aaac7cfa7ad981409d73f787b83a99d393bed3d7c3103075"
	for _, order := range []struct {
		indexes []int
		values  [][]byte
	}{
		{[]int{7, 11}, [][]byte{zero, ones}},
		{[]int{11, 7}, [][]byte{ones, zero}}, // the TPM reads PCRs in index order
	} {
		got, err := PolicyPCRDigest(crypto.SHA256, order.indexes, order.values)
		if err != nil {
			t.Fatal(err)
		}
		if hex.EncodeToString(got) != want {
			t.Errorf("PolicyPCRDigest(sha256, %v) = %x, want %s", order.indexes, got, want)
		}
	}
}

func TestPolicyPCRErrors(t *testing.T) {
	v := Zero(crypto.SHA256)
	tests := []struct {
		name    string
		bank    crypto.Hash
		indexes []int
		values  [][]byte
		want    error
	}{
		{"bank", crypto.MD5, []int{11}, [][]byte{v}, ErrBank},
		{"index", crypto.SHA256, []int{24}, [][]byte{v}, ErrIndex},
		{"negative", crypto.SHA256, []int{-1}, [][]byte{v}, ErrIndex},
		{"size", crypto.SHA256, []int{11}, [][]byte{v[:20]}, ErrValue},
		{"count", crypto.SHA256, []int{7, 11}, [][]byte{v}, ErrPolicy},
		{"none", crypto.SHA256, nil, nil, ErrPolicy},
		{"twice", crypto.SHA256, []int{11, 11}, [][]byte{v, v}, ErrPolicy},
	}
	for _, tt := range tests {
		if _, err := PolicyPCRDigest(tt.bank, tt.indexes, tt.values); !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
	}
	if _, err := PolicyPCR([]byte{1}, crypto.SHA256, []int{11}, [][]byte{v}); !errors.Is(err, ErrPolicy) {
		t.Errorf("short policy: err = %v, want %v", err, ErrPolicy)
	}
}

func TestMarshalPCRSelection(t *testing.T) {
	got, err := MarshalPCRSelection(crypto.SHA384, []int{0, 7, 11, 23})
	if err != nil {
		t.Fatal(err)
	}
	want := unhex(t, "00000001"+"000c"+"03"+"81"+"08"+"80")
	if !bytes.Equal(got, want) {
		t.Errorf("MarshalPCRSelection = %x, want %x", got, want)
	}
}

func TestRSAPublicName(t *testing.T) {
	got, err := RSAPublicName(testPublicKey(t))
	if err != nil {
		t.Fatal(err)
	}
	if want := "000bd3553c95e49bca80e8005488100f6dec90fb42de6407d5c6703c1f870c97cbef"; hex.EncodeToString(got) != want {
		t.Errorf("RSAPublicName = %x, want %s", got, want)
	}
}

func TestRSAPublicAreaLayout(t *testing.T) {
	pub := testPublicKey(t)
	area, err := RSAPublicArea(pub)
	if err != nil {
		t.Fatal(err)
	}
	head := unhex(t, "0001"+"000b"+"00060040"+"0000"+"0010"+"0010"+"0800"+"00010001"+"0100")
	if !bytes.HasPrefix(area, head) || !bytes.Equal(area[len(head):], pub.N.Bytes()) {
		t.Errorf("RSAPublicArea = %x..., want %x || modulus", area[:len(head)], head)
	}
}

func TestSystemdExponent(t *testing.T) {
	for e, want := range map[int]uint32{65537: 65537, 3: 3, 17: 17, 0x0102: 0x0201} {
		if got, err := systemdExponent(e); err != nil || got != want {
			t.Errorf("systemdExponent(%#x) = %#x, %v, want %#x", e, got, err, want)
		}
	}
	if _, err := RSAPublicArea(&rsa.PublicKey{}); !errors.Is(err, ErrKey) {
		t.Errorf("RSAPublicArea(empty key): err = %v, want %v", err, ErrKey)
	}
}

func TestPolicyAuthorizeDigest(t *testing.T) {
	name, err := RSAPublicName(testPublicKey(t))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ ref, want string }{
		{"", "b45eb65cce2fd4712827064e03a08c212209e44a4599ae9cb05539acf648df66"},
		{"kiln", "d25e0525e0ad658f5ac215171cc8b76484dce33f4640a54e6d7a7ec894e55d53"},
	}
	for _, tt := range tests {
		if got := PolicyAuthorizeDigest(name, []byte(tt.ref)); hex.EncodeToString(got) != tt.want {
			t.Errorf("PolicyAuthorizeDigest(name, %q) = %x, want %s", tt.ref, got, tt.want)
		}
	}
}
