package tpmseal

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"testing"

	"github.com/google/go-tpm/tpm2"

	"github.com/kiln-os/kiln/internal/tpmsim"

	"github.com/kiln-os/kiln/internal/testpki"
	"github.com/kiln-os/kiln/measure/pcr"
	"github.com/kiln-os/kiln/uki/pcrsig"
)

// simTPM is the reference TPM simulator, with this package's test helpers.
type simTPM struct{ *tpmsim.TPM }

// openSimulator starts a freshly manufactured simulator for the test.
func openSimulator(t *testing.T) *simTPM { return &simTPM{tpmsim.Open(t)} }

// reboot resets the simulator as a reboot does: PCRs back to zero, seeds kept.
func (s *simTPM) reboot(t *testing.T) {
	t.Helper()
	if err := s.Sim.Reset(); err != nil {
		t.Fatalf("simulator reset: %v", err)
	}
}

// extend measures each word into PCR index as systemd-pcrphase does (TPM2_PCR_Event).
func (s *simTPM) extend(t *testing.T, index int, words ...string) {
	t.Helper()
	for _, w := range words {
		_, err := tpm2.PCREvent{
			PCRHandle: tpm2.AuthHandle{Handle: tpm2.TPMHandle(index), Auth: tpm2.PasswordAuth(nil)},
			EventData: tpm2.TPM2BEvent{Buffer: []byte(w)},
		}.Execute(s)
		if err != nil {
			t.Fatalf("PCR_Event(%d, %q): %v", index, w, err)
		}
	}
}

// checkNoTransients fails the test if an object or session is still loaded.
func (s *simTPM) checkNoTransients(t *testing.T) {
	t.Helper()
	for _, kind := range []tpm2.TPMHT{tpm2.TPMHTTransient, tpm2.TPMHTHMACSession, tpm2.TPMHTPolicySession} {
		rsp, err := tpm2.GetCapability{Capability: tpm2.TPMCapHandles, Property: uint32(kind) << 24, PropertyCount: 16}.Execute(s)
		if err != nil {
			t.Fatalf("GetCapability(handles): %v", err)
		}
		handles, err := rsp.CapabilityData.Data.Handles()
		if err != nil {
			t.Fatal(err)
		}
		if len(handles.Handle) != 0 {
			t.Errorf("left loaded in the TPM: %#x", handles.Handle)
		}
	}
}

// testKeys returns two RSA-2048 PCR keys: testdata/pcr-test.key and
// testdata/other-test.key, made with `openssl genpkey -algorithm RSA -pkeyopt
// rsa_keygen_bits:2048`. They guard nothing.
func testKeys(t testing.TB) (pcrKey, otherKey *rsa.PrivateKey) {
	t.Helper()
	return readKey(t, "testdata/pcr-test.key"), readKey(t, "testdata/other-test.key")
}

func readKey(t testing.TB, path string) *rsa.PrivateKey {
	t.Helper()
	key := testpki.ReadPEM(t, path, x509.ParsePKCS8PrivateKey)
	return key.(*rsa.PrivateKey)
}

// uki is what systemd-stub hands the initrd: .pcrsig and .pcrpkey.
type uki struct {
	signature, publicKey []byte
}

// signedUKI signs, the way the build does (uki/pcrsig), a UKI whose PCR 11 value after
// leave-initrd is the replay of words.
func signedUKI(t testing.TB, key *rsa.PrivateKey, words ...string) uki {
	t.Helper()
	events := make([][]byte, len(words))
	for i, w := range words {
		events[i] = []byte(w)
	}
	predictions := pcrsig.Predictions{crypto.SHA256: {"leave-initrd": pcr.Replay(crypto.SHA256, events...)}}
	sig, err := pcrsig.Sign(predictions, key, []string{"leave-initrd"})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := pcrsig.PublicKeyPEM(key)
	if err != nil {
		t.Fatal(err)
	}
	return uki{signature: sig, publicKey: pub}
}

// bootWords stand for what systemd-stub and Kiln extend up to leave-initrd.
var bootWords = []string{".linux\x00", "kernel v1", "enter-initrd", "leave-initrd"}

// wire records every command and response that crosses the transport.
type wire struct {
	*simTPM
	traffic [][]byte
}

func (w *wire) Send(command []byte) ([]byte, error) {
	sent := bytes.Clone(command) // the simulator decrypts parameters in place
	response, err := w.simTPM.Send(command)
	w.traffic = append(w.traffic, sent, bytes.Clone(response))
	return response, err
}
