package tpmseal

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/kiln-os/kiln/measure/pcr"
	"github.com/kiln-os/kiln/uki/pcrsig"
)

// genuineSignature is what the build signs: two banks, three phases.
func genuineSignature(t testing.TB, key *rsa.PrivateKey) ([]byte, pcrsig.Predictions) {
	t.Helper()
	predictions := pcrsig.Predictions{}
	for _, bank := range []crypto.Hash{crypto.SHA256, crypto.SHA384} {
		predictions[bank] = map[string][]byte{}
		for i, phase := range pcr.Phases() {
			predictions[bank][phase] = bytes.Repeat([]byte{byte(i + 1)}, bank.Size())
		}
	}
	sig, err := pcrsig.Sign(predictions, key, pcr.Phases())
	if err != nil {
		t.Fatal(err)
	}
	return sig, predictions
}

func TestParseSignatureGenuine(t *testing.T) {
	key, _ := testKeys(t)
	data, predictions := genuineSignature(t, key)
	sig, err := ParseSignature(data)
	if err != nil {
		t.Fatalf("ParseSignature: %v\n%s", err, data)
	}
	if n := len(pcr.Phases()); len(sig) != 2 || len(sig["sha256"]) != n || len(sig["sha384"]) != n {
		t.Fatalf("ParseSignature found %d banks, want sha256 and sha384 with %d policies each", len(sig), n)
	}
	for _, phase := range pcr.Phases() {
		want, err := pcr.PolicyPCRDigest(crypto.SHA256, []int{PCR}, [][]byte{predictions[crypto.SHA256][phase]})
		if err != nil {
			t.Fatal(err)
		}
		entry, ok := sig.find(keyFingerprint(&key.PublicKey), want)
		if !ok {
			t.Errorf("phase %s: no sha256 entry for policy %x with the key's fingerprint", phase, want)
			continue
		}
		digest := sha256.Sum256(entry.Policy)
		if err := rsa.VerifyPKCS1v15(&key.PublicKey, crypto.SHA256, digest[:], entry.Signature); err != nil {
			t.Errorf("phase %s: signature does not verify: %v", phase, err)
		}
	}
}

func TestParseSignatureRejects(t *testing.T) {
	entry := func(fields string) string { return `{"sha256":[{` + fields + `}]}` }
	const (
		pcrs = `"pcrs":[11]`
		pkfp = `"pkfp":"` + "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff" + `"`
		pol  = `"pol":"` + "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100" + `"`
		sig  = `"sig":"AAECAw=="`
	)
	if _, err := ParseSignature([]byte(entry(pcrs + "," + pkfp + "," + pol + "," + sig))); err != nil {
		t.Fatalf("the valid base case: %v", err)
	}
	tests := []struct{ name, data, want string }{
		{"not an object", `[]`, "where"},
		{"unknown bank", `{"md5":[]}`, "unknown bank"},
		{"bank twice", `{"sha256":[],"sha256":[]}`, "twice"},
		{"trailing", `{} {}`, "after"},
		{"unknown field", entry(pcrs + "," + pkfp + "," + pol + "," + sig + `,"phase":"ready"`), "unknown field"},
		{"no pcrs", entry(pkfp + "," + pol + "," + sig), "pcrs"},
		{"PCR 24", entry(`"pcrs":[24],` + pkfp + "," + pol + "," + sig), "pcrs"},
		{"PCR twice", entry(`"pcrs":[11,11],` + pkfp + "," + pol + "," + sig), "pcrs"},
		{"short pkfp", entry(pcrs + `,"pkfp":"0011",` + pol + "," + sig), "pkfp"},
		{"upper-case pol", entry(pcrs + "," + pkfp + "," + strings.ToUpper(pol) + "," + sig), "pol"},
		{"no pol", entry(pcrs + "," + pkfp + "," + sig), "pol"},
		{"bad base64", entry(pcrs + "," + pkfp + "," + pol + `,"sig":"A!=="`), "sig"},
		{"empty sig", entry(pcrs + "," + pkfp + "," + pol + `,"sig":""`), "sig"},
		{"pcrs not a list", entry(`"pcrs":11,` + pkfp + "," + pol + "," + sig), "cannot unmarshal"},
		{"too large", `{"sha256":[` + strings.Repeat(" ", maxSignatureJSON) + `]}`, "at most"},
	}
	for _, tt := range tests {
		_, err := ParseSignature([]byte(tt.data))
		if !errors.Is(err, ErrSignature) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %v mentioning %q", tt.name, err, ErrSignature, tt.want)
		}
	}
}

func FuzzParseSignature(f *testing.F) {
	key, _ := testKeys(f)
	f.Add(signedUKI(f, key, bootWords...).signature) // one genuine entry keeps the fuzzer fast
	f.Add([]byte(`{"sha256":[{"pcrs":[11],"pkfp":"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff","pol":"ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100","sig":"AAECAw=="}]}`))
	f.Add([]byte(`{"sha256":[{"pcrs":[11],"pkfp":"00","pol":"00","sig":"AA=="}]}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		sig, err := ParseSignature(data)
		if err != nil {
			if !errors.Is(err, ErrSignature) {
				t.Fatalf("error %v is not %v", err, ErrSignature)
			}
			return
		}
		for bank, entries := range sig {
			if !slices.Contains(knownBanks, bank) || len(entries) > maxPoliciesByBank {
				t.Fatalf("accepted bank %q with %d entries", bank, len(entries))
			}
			for _, e := range entries {
				if len(e.KeyFingerprint) != 32 || len(e.Policy) != 32 || len(e.Signature) == 0 || checkPCRList(e.PCRs) != nil {
					t.Fatalf("accepted entry %+v", e)
				}
			}
		}
	})
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func TestParsePublicKeyPEM(t *testing.T) {
	key, other := testKeys(t)
	genuine, err := pcrsig.PublicKeyPEM(key)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ParsePublicKeyPEM(genuine)
	if err != nil || !pub.Equal(&key.PublicKey) {
		t.Fatalf("ParsePublicKeyPEM(.pcrpkey) = %v, %v", pub, err)
	}
	otherPEM, _ := pcrsig.PublicKeyPEM(other)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	smallDER, _ := x509.MarshalPKIXPublicKey(&small.PublicKey)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	withHeader := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED"}, Bytes: []byte{0}})
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "one PEM block"},
		{"two keys", append(slices.Clone(genuine), otherPEM...), "after the PEM block"},
		{"trailing text", append(slices.Clone(genuine), "junk"...), "after the PEM block"},
		{"PKCS#1 type", pemBlock("RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&key.PublicKey)), "one PEM block"},
		{"headers", withHeader, "without headers"},
		{"1024-bit", pemBlock("PUBLIC KEY", smallDER), "1024-bit"},
		{"ECDSA", pemBlock("PUBLIC KEY", ecDER), "want RSA"},
		{"bad DER", pemBlock("PUBLIC KEY", []byte{0x30, 0x03, 1, 2, 3}), "asn1"},
	}
	for _, tt := range tests {
		_, err := ParsePublicKeyPEM(tt.data)
		if !errors.Is(err, ErrPublicKey) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %v mentioning %q", tt.name, err, ErrPublicKey, tt.want)
		}
	}
}
