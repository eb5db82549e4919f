package tpmquote

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-tpm-tools/simulator"
	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"github.com/kiln-os/kiln/internal/tpmsim"

	verify "github.com/kiln-os/kiln/measure/attest"
)

// simTPM is the reference TPM simulator, with this package's test helpers.
type simTPM struct{ *tpmsim.TPM }

// openSimulator starts a freshly manufactured simulator (new seeds, so a new AK).
func openSimulator(t *testing.T) *simTPM { return &simTPM{tpmsim.Open(t)} }

// otherAK returns the akPublic of another, freshly manufactured TPM. The simulator is a
// singleton, so it runs (and closes) before the test opens its own.
func otherAK(t *testing.T) []byte {
	t.Helper()
	sim, err := simulator.Get()
	if err != nil {
		t.Fatalf("TPM simulator: %v", err)
	}
	defer sim.Close()
	_, _, akPublic, err := Quote(transport.FromReadWriter(sim), nonce, "sha256", []uint32{7})
	if err != nil {
		t.Fatalf("Quote: %v", err)
	}
	return akPublic
}

// extend measures word into PCR index as systemd-pcrphase does (TPM2_PCR_Event).
func (s *simTPM) extend(t *testing.T, index int, word string) {
	t.Helper()
	_, err := tpm2.PCREvent{
		PCRHandle: tpm2.AuthHandle{Handle: tpm2.TPMHandle(index), Auth: tpm2.PasswordAuth(nil)},
		EventData: tpm2.TPM2BEvent{Buffer: []byte(word)},
	}.Execute(s)
	if err != nil {
		t.Fatalf("PCR_Event(%d, %q): %v", index, word, err)
	}
}

// read returns the SHA-256 values of pcrs, as the API reports them.
func (s *simTPM) read(t *testing.T, pcrs ...uint32) map[uint32][]byte {
	t.Helper()
	values := map[uint32][]byte{}
	for _, i := range pcrs {
		sel, _ := verify.Selection("sha256", []uint32{i})
		rsp, err := tpm2.PCRRead{PCRSelectionIn: sel}.Execute(s)
		if err != nil || len(rsp.PCRValues.Digests) != 1 {
			t.Fatalf("PCR_Read(%d): %v", i, err)
		}
		values[i] = rsp.PCRValues.Digests[0].Buffer
	}
	return values
}

// checkNoTransients fails the test if an object is still loaded.
func (s *simTPM) checkNoTransients(t *testing.T) {
	t.Helper()
	rsp, err := tpm2.GetCapability{Capability: tpm2.TPMCapHandles, Property: uint32(tpm2.TPMHTTransient) << 24, PropertyCount: 16}.Execute(s)
	if err != nil {
		t.Fatalf("GetCapability(handles): %v", err)
	}
	if handles, _ := rsp.CapabilityData.Data.Handles(); len(handles.Handle) != 0 {
		t.Errorf("left loaded in the TPM: %#x", handles.Handle)
	}
}

// quoted is one Quote's output.
type quoted struct{ attest, signature, akPublic []byte }

func quote(t *testing.T, tpm *simTPM, nonce []byte, pcrs ...uint32) quoted {
	t.Helper()
	a, s, p, err := Quote(tpm, nonce, "sha256", pcrs)
	tpm.checkNoTransients(t)
	if err != nil {
		t.Fatalf("Quote: %v", err)
	}
	return quoted{a, s, p}
}

var nonce = bytes.Repeat([]byte{0x5a}, 32)

func TestQuoteVerifies(t *testing.T) {
	tpm := openSimulator(t)
	tpm.extend(t, 11, "leave-initrd")
	q := quote(t, tpm, nonce, 11, 7, 0)
	got, err := verify.Verify(q.akPublic, q.attest, q.signature, nonce, "sha256", tpm.read(t, 0, 7, 11))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	akDigest := sha256.Sum256(q.akPublic)
	if got.AKFingerprint != hex.EncodeToString(akDigest[:]) || !bytes.Equal(got.AKName[2:], akDigest[:]) {
		t.Errorf("fingerprint %s, name %x; SHA-256(akPublic) = %x", got.AKFingerprint, got.AKName, akDigest)
	}
	if got.Bank != "sha256" || len(got.PCRs) != 3 || got.PCRs[2] != 11 || got.Clock == 0 {
		t.Errorf("result = %+v", got)
	}
}

func TestAKIsRederived(t *testing.T) {
	other := otherAK(t)
	tpm := openSimulator(t)
	first := quote(t, tpm, nonce, 7)
	if err := tpm.Sim.Reset(); err != nil { // a reboot: PCRs cleared, seeds kept
		t.Fatal(err)
	}
	second := quote(t, tpm, []byte("another boot"), 7)
	if !bytes.Equal(first.akPublic, second.akPublic) {
		t.Errorf("AK changed across Quote calls:\n%x\n%x", first.akPublic, second.akPublic)
	}
	if bytes.Equal(first.akPublic, other) {
		t.Error("two TPMs derived the same AK")
	}
}

func TestVerifyRefuses(t *testing.T) {
	otherAK := otherAK(t)
	tpm := openSimulator(t)
	q := quote(t, tpm, nonce, 7, 11)
	values := tpm.read(t, 7, 11)

	tamperedAttest := bytes.Clone(q.attest)
	tamperedAttest[len(tamperedAttest)-1] ^= 1
	tamperedValues := tpm.read(t, 7, 11)
	tamperedValues[11][0] ^= 1
	moreValues := tpm.read(t, 7, 11, 12)

	for _, tc := range []struct {
		name                         string
		akPublic, attest, sig, nonce []byte
		values                       map[uint32][]byte
		want                         error
		says                         string
	}{
		{"wrong nonce", q.akPublic, q.attest, q.signature, []byte("other nonce"), values, verify.ErrNonce, "is for nonce 5a5a"},
		{"tampered attest", q.akPublic, tamperedAttest, q.signature, nonce, values, verify.ErrSignature, "does not verify"},
		{"tampered value", q.akPublic, q.attest, q.signature, nonce, tamperedValues, verify.ErrPCRDigest, "pcrDigest"},
		{"other AK", otherAK, q.attest, q.signature, nonce, values, verify.ErrSignature, "does not verify"},
		{"different selection", q.akPublic, q.attest, q.signature, nonce, moreValues, verify.ErrSelection, "quoted selection 00000001000b03800800"},
		{"no nonce", q.akPublic, q.attest, q.signature, nil, values, verify.ErrNonce, "0 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := verify.Verify(tc.akPublic, tc.attest, tc.sig, tc.nonce, "sha256", tc.values)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.says) {
				t.Errorf("Verify = %v, want %v saying %q", err, tc.want, tc.says)
			}
		})
	}
}

func TestQuoteAfterAnExtendDoesNotMatchEarlierValues(t *testing.T) {
	tpm := openSimulator(t)
	values := tpm.read(t, 11)
	tpm.extend(t, 11, "ready") // between the API's read and the quote
	q := quote(t, tpm, nonce, 11)
	if _, err := verify.Verify(q.akPublic, q.attest, q.signature, nonce, "sha256", values); !errors.Is(err, verify.ErrPCRDigest) {
		t.Errorf("Verify = %v, want ErrPCRDigest", err)
	}
}

// failQuote is a TPM whose TPM2_Quote fails, to show the AK is flushed on that path too.
type failQuote struct{ *simTPM }

func (f failQuote) Send(command []byte) ([]byte, error) {
	if len(command) >= 10 && tpm2.TPMCC(binary.BigEndian.Uint32(command[6:10])) == tpm2.TPMCCQuote {
		return nil, errors.New("bus error")
	}
	return f.simTPM.Send(command)
}

func TestQuoteFlushesOnFailure(t *testing.T) {
	tpm := openSimulator(t)
	_, _, _, err := Quote(failQuote{tpm}, nonce, "sha256", []uint32{7})
	if err == nil || !strings.Contains(err.Error(), "tpmquote: Quote: ") {
		t.Errorf("Quote = %v, want the Quote command named", err)
	}
	tpm.checkNoTransients(t)
}

func TestQuoteRejectsBadInput(t *testing.T) {
	tpm := openSimulator(t)
	for _, tc := range []struct {
		nonce []byte
		bank  string
		pcrs  []uint32
		want  error
	}{
		{nil, "sha256", []uint32{7}, ErrNonce},
		{make([]byte, 65), "sha256", []uint32{7}, ErrNonce},
		{nonce, "md5", []uint32{7}, verify.ErrBank},
		{nonce, "sha256", []uint32{24}, verify.ErrPCR},
		{nonce, "sha256", nil, verify.ErrPCR},
	} {
		if _, _, _, err := Quote(tpm, tc.nonce, tc.bank, tc.pcrs); !errors.Is(err, tc.want) {
			t.Errorf("Quote(%d-byte nonce, %q, %v) = %v, want %v", len(tc.nonce), tc.bank, tc.pcrs, err, tc.want)
		}
	}
	tpm.checkNoTransients(t)
}
