package attest

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/google/go-tpm/tpm2"
)

// A quote over PCR 7 (sha256, all zero) from go-tpm-tools' simulator, made by
// initd/tpmquote.Quote through kilnctl pcrs --quote -o json. initd/tpmquote's tests check
// fresh quotes from the simulator; this one keeps Verify tested without cgo.
var (
	vectorAK        = unhex("0023000b00050072000000100018000b000300100020f104a37437369d22f656bf570bba5542bab55d6edf23dd00ecf4deca60a972a900202cffbd42e3a5032b27e5206fc3caa0cbc554a1d520ed16da95ddc8c64a139c8a")
	vectorAttest    = unhex("ff54434780180022000be92325381513674445f2ca6e84586e07980d106c1bb54f85e6df9d5fca747bbf0020ceaa2248b4341befb930bfcffd7c4b40d2a1c739753bc924e630d54e62e040830000000000000007000000020000000001201706190016363600000001000b03800000002066687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925")
	vectorSignature = unhex("0018000b0020265e612510b000948de6b577b594188a7c3f611f9d60bf52df46d67f96279bb70020b073bc0ffc9a97c855e0f8ac76ad564f902f8a30fcb8c468f4eecf9115229e0f")
	vectorNonce     = unhex("ceaa2248b4341befb930bfcffd7c4b40d2a1c739753bc924e630d54e62e04083")
	vectorValues    = map[uint32][]byte{7: make([]byte, 32)}
)

func unhex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func TestVerifyVector(t *testing.T) {
	got, err := Verify(vectorAK, vectorAttest, vectorSignature, vectorNonce, "sha256", vectorValues)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if got.AKFingerprint != "8ba786a0ee437256fa9cd95038f9d7bf0ccabd8244d804e4e5f46ea227df9da7" || got.ResetCount != 2 || !got.Safe {
		t.Errorf("result = %+v", got)
	}
}

func TestVerifyRefusesVariants(t *testing.T) {
	trailing := append(bytes.Clone(vectorAttest), 0)
	badMagic := bytes.Clone(vectorAttest)
	badMagic[0] = 0
	notRestricted := AKTemplate()
	notRestricted.ObjectAttributes.Restricted = false
	for _, tc := range []struct {
		name                        string
		akPublic, attest, signature []byte
		bank                        string
		want                        error
	}{
		{"trailing attest byte", vectorAK, trailing, vectorSignature, "sha256", ErrSignature},
		{"bad magic", vectorAK, badMagic, vectorSignature, "sha256", ErrSignature},
		{"truncated AK", vectorAK[:20], vectorAttest, vectorSignature, "sha256", ErrAKPublic},
		{"unrestricted AK", tpm2.Marshal(notRestricted), vectorAttest, vectorSignature, "sha256", ErrAKPublic},
		{"truncated signature", vectorAK, vectorAttest, vectorSignature[:10], "sha256", ErrSignature},
		{"other bank", vectorAK, vectorAttest, vectorSignature, "sha384", ErrSelection},
		{"unknown bank", vectorAK, vectorAttest, vectorSignature, "md5", ErrBank},
	} {
		t.Run(tc.name, func(t *testing.T) {
			values := vectorValues
			if tc.bank == "sha384" {
				values = map[uint32][]byte{7: make([]byte, 48)}
			}
			if _, err := Verify(tc.akPublic, tc.attest, tc.signature, vectorNonce, tc.bank, values); !errors.Is(err, tc.want) {
				t.Errorf("Verify = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestParseAttestChecksMagicAndType(t *testing.T) {
	badMagic := bytes.Clone(vectorAttest)
	badMagic[0] = 0
	if _, err := parseAttest(badMagic); !errors.Is(err, ErrAttest) {
		t.Errorf("bad magic: %v", err)
	}
	if _, err := parseAttest(append(bytes.Clone(vectorAttest), 0)); !errors.Is(err, ErrAttest) {
		t.Errorf("trailing byte: %v", err)
	}
}

// The parsers take bytes from the network: none may panic, and what one accepts must
// re-encode to exactly the input.
func FuzzParseAKPublic(f *testing.F) {
	f.Add(vectorAK)
	f.Add(tpm2.Marshal(AKTemplate()))
	f.Fuzz(func(t *testing.T, data []byte) {
		if k, err := parseAKPublic(data); err == nil && !bytes.Equal(tpm2.Marshal(k.public), data) {
			t.Errorf("accepted %x, re-encodes as %x", data, tpm2.Marshal(k.public))
		}
	})
}

func FuzzParseSignature(f *testing.F) {
	f.Add(vectorSignature)
	f.Fuzz(func(t *testing.T, data []byte) {
		if r, s, err := parseSignature(data); err == nil && (r == nil || s == nil) {
			t.Errorf("accepted %x without r and s", data)
		}
	})
}

func FuzzParseAttest(f *testing.F) {
	f.Add(vectorAttest)
	f.Fuzz(func(t *testing.T, data []byte) {
		if q, err := parseAttest(data); err == nil && !bytes.Equal(tpm2.Marshal(*q.attest), data) {
			t.Errorf("accepted %x, re-encodes differently", data)
		}
	})
}

func FuzzVerify(f *testing.F) {
	f.Add(vectorAK, vectorAttest, vectorSignature)
	f.Fuzz(func(t *testing.T, akPublic, attest, signature []byte) {
		_, err := Verify(akPublic, attest, signature, vectorNonce, "sha256", vectorValues)
		if err == nil && !(bytes.Equal(akPublic, vectorAK) && bytes.Equal(attest, vectorAttest)) {
			t.Errorf("verified a quote other than the vector's: %x %x", akPublic, attest)
		}
	})
}
