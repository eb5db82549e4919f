package pcrsig

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"testing"

	"github.com/kiln-os/kiln/measure/pcr"
	"github.com/kiln-os/kiln/uki/pe"
)

// testKey is testdata/pcr-test.key, made with `openssl genpkey -algorithm
// RSA -pkeyopt rsa_keygen_bits:2048`; testdata/pcr-test.pub is
// `openssl pkey -pubout` of it. They guard nothing.
func testKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	b, err := os.ReadFile("testdata/pcr-test.key")
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatal("testdata/pcr-test.key: no PEM block")
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return key.(*rsa.PrivateKey)
}

// testSections is a small UKI's sections in the order uki/pe assembles
// them, which is not the order systemd-stub measures them in.
func testSections(t *testing.T) []pe.Section {
	t.Helper()
	pub, err := os.ReadFile("testdata/pcr-test.pub")
	if err != nil {
		t.Fatal(err)
	}
	return []pe.Section{
		{Name: ".osrel", Data: []byte("ID=kiln\nVERSION_ID=1\n")},
		{Name: ".cmdline", Data: []byte("console=ttyS0 quiet")},
		{Name: ".uname", Data: []byte("6.12.0-kiln")},
		{Name: ".sbat", Data: []byte("sbat,1,SBAT Version,sbat,1,https://github.com/rhboot/shim/blob/main/SBAT.md\n")},
		{Name: ".linux", Data: bytes.Repeat([]byte("MZ kernel "), 5000)},
		{Name: ".initrd", Data: bytes.Repeat([]byte("070701"), 7000)},
		{Name: ".pcrpkey", Data: pub},
		{Name: ".pcrsig", Data: []byte("{}")},
	}
}

var testBanks = []crypto.Hash{crypto.SHA256, crypto.SHA384}

func TestPredictReplay(t *testing.T) {
	sections := testSections(t)
	got, err := Predict(sections, testBanks)
	if err != nil {
		t.Fatal(err)
	}
	data := map[string][]byte{}
	for _, s := range sections {
		data[s.Name] = s.Data
	}
	for _, bank := range testBanks {
		var events [][]byte
		for _, name := range []string{".linux", ".osrel", ".cmdline", ".initrd", ".pcrpkey"} {
			events = append(events, append([]byte(name), 0), data[name])
		}
		want := map[string][]byte{PhaseUKI: pcr.Replay(bank, events...)}
		for _, phase := range []string{"enter-initrd", "leave-initrd", "sysinit", "ready"} {
			events = append(events, []byte(phase))
			want[phase] = pcr.Replay(bank, events...)
		}
		for phase, value := range want {
			if !bytes.Equal(got[bank][phase], value) {
				t.Errorf("%v phase %q = %x, want %x", bank, phase, got[bank][phase], value)
			}
		}
		if len(got[bank]) != len(want) {
			t.Errorf("%v: %d phases, want %d", bank, len(got[bank]), len(want))
		}
	}
}

func TestPredictSkipsEmpty(t *testing.T) {
	linux := pe.Section{Name: ".linux", Data: []byte("kernel")}
	with, err := Predict([]pe.Section{linux, {Name: ".cmdline"}}, testBanks)
	if err != nil {
		t.Fatal(err)
	}
	without, err := Predict([]pe.Section{linux}, testBanks)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(with[crypto.SHA256][PhaseUKI], without[crypto.SHA256][PhaseUKI]) {
		t.Error("an empty .cmdline changed the prediction; systemd-stub skips empty sections")
	}
}

func TestPredictErrors(t *testing.T) {
	linux := pe.Section{Name: ".linux", Data: []byte("kernel")}
	tests := []struct {
		name     string
		sections []pe.Section
		banks    []crypto.Hash
		want     error
	}{
		{"no linux", []pe.Section{{Name: ".osrel", Data: []byte("x")}}, testBanks, ErrSections},
		{"twice", []pe.Section{linux, linux}, testBanks, ErrSections},
		{"bank", []pe.Section{linux}, []crypto.Hash{crypto.MD5}, ErrBank},
	}
	for _, tt := range tests {
		if _, err := Predict(tt.sections, tt.banks); !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestPhasePath(t *testing.T) {
	for phase, want := range map[string]string{
		PhaseUKI: "", "enter-initrd": "enter-initrd", "leave-initrd": "enter-initrd:leave-initrd",
		"sysinit": "enter-initrd:leave-initrd:sysinit", "ready": "enter-initrd:leave-initrd:sysinit:ready",
		"final": "",
	} {
		if got := PhasePath(phase); got != want {
			t.Errorf("PhasePath(%q) = %q, want %q", phase, got, want)
		}
	}
}

func TestPublicKeyPEM(t *testing.T) {
	got, err := PublicKeyPEM(testKey(t))
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("testdata/pcr-test.pub") // written by openssl
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("PublicKeyPEM =\n%s\nwant (openssl pkey -pubout)\n%s", got, want)
	}
}

// signed is the parsed .pcrsig JSON.
type signed map[string][]struct {
	PCRs []int  `json:"pcrs"`
	PKFP string `json:"pkfp"`
	Pol  string `json:"pol"`
	Sig  string `json:"sig"`
}

func TestSign(t *testing.T) {
	key := testKey(t)
	predictions, err := Predict(testSections(t), testBanks)
	if err != nil {
		t.Fatal(err)
	}
	// Out of order on purpose: Sign orders by phase expression, as systemd.
	phases := []string{"ready", PhaseUKI, "enter-initrd", "leave-initrd", "ready"}
	out, err := Sign(predictions, key, phases)
	if err != nil {
		t.Fatal(err)
	}
	var doc signed
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("Sign output is not JSON: %v\n%s", err, out)
	}
	// `openssl rsa -pubin -RSAPublicKey_out -outform DER | sha256sum`
	fingerprint := unhex(t, "3a5ea5d2d38eff4d033030c29c411bc36269b68d9d09b6fda71a1c279829e3a7")
	for _, bank := range testBanks {
		entries := doc[bankNames[bank]]
		if len(entries) != 4 {
			t.Fatalf("%s: %d entries, want 4", bankNames[bank], len(entries))
		}
		for i, phase := range []string{PhaseUKI, "enter-initrd", "leave-initrd", "ready"} {
			e := entries[i]
			policy, _ := pcr.PolicyPCRDigest(bank, []int{11}, [][]byte{predictions[bank][phase]})
			if e.Pol != hex.EncodeToString(policy) || e.PKFP != hex.EncodeToString(fingerprint) || len(e.PCRs) != 1 || e.PCRs[0] != 11 {
				t.Errorf("%s[%d] = %+v, want pol %x for phase %q", bankNames[bank], i, e, policy, phase)
			}
			sig, _ := base64.StdEncoding.DecodeString(e.Sig)
			h := bank.New()
			h.Write(policy)
			if err := rsa.VerifyPKCS1v15(&key.PublicKey, bank, h.Sum(nil), sig); err != nil {
				t.Errorf("%s[%d]: signature: %v", bankNames[bank], i, err)
			}
		}
	}
}

func TestSignErrors(t *testing.T) {
	predictions, err := Predict(testSections(t), testBanks)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Sign(predictions, testKey(t), []string{"final"}); !errors.Is(err, ErrPhase) {
		t.Errorf("unknown phase: err = %v, want %v", err, ErrPhase)
	}
	if _, err := Sign(predictions, testKey(t), nil); !errors.Is(err, ErrPhase) {
		t.Errorf("no phase: err = %v, want %v", err, ErrPhase)
	}
	if _, err := Sign(predictions, nil, pcr.Phases()); !errors.Is(err, ErrKey) {
		t.Errorf("no key: err = %v, want %v", err, ErrKey)
	}
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
