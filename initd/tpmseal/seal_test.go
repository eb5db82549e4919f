package tpmseal

import (
	"bytes"
	"crypto/rsa"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-tpm/tpm2"
)

var secret = []byte("0123456789abcdef0123456789abcdef") // a 256-bit disk key

// seal seals secret to key (and PCR 7 when pcr7 is set) and checks the blob survives
// Marshal and ParseBlob.
func seal(t *testing.T, tpm *simTPM, key *rsa.PrivateKey, pcr7 []byte) *Blob {
	t.Helper()
	blob, err := Seal(tpm, secret, Policy{PCRPublicKey: &key.PublicKey, PCR7: pcr7})
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	tpm.checkNoTransients(t)
	data, err := blob.Marshal()
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	parsed, err := ParseBlob(data)
	if err != nil {
		t.Fatalf("ParseBlob(Marshal(blob)): %v\n%s", err, data)
	}
	return parsed
}

// unseal unseals blob with u and checks that the TPM is left clean.
func unseal(t *testing.T, tpm *simTPM, blob *Blob, u uki) ([]byte, error) {
	t.Helper()
	got, err := Unseal(tpm, blob, u.signature, u.publicKey)
	tpm.checkNoTransients(t)
	if err != nil && got != nil {
		t.Errorf("Unseal returned %d bytes with error %v", len(got), err)
	}
	return got, err
}

func TestSealUnsealAcrossReboot(t *testing.T) {
	tpm := openSimulator(t)
	key, _ := testKeys(t)
	tpm.extend(t, PCR, bootWords...)
	blob := seal(t, tpm, key, nil)

	tpm.reboot(t) // the SRK is derived again from the same owner seed
	tpm.extend(t, PCR, bootWords...)
	got, err := unseal(t, tpm, blob, signedUKI(t, key, bootWords...))
	if err != nil {
		t.Fatalf("Unseal: %v", err)
	}
	if !bytes.Equal(got, secret) {
		t.Errorf("Unseal = %q, want %q", got, secret)
	}
}

func TestUnsealNewVersionSameKey(t *testing.T) {
	tpm := openSimulator(t)
	key, _ := testKeys(t)
	tpm.extend(t, PCR, bootWords...)
	blob := seal(t, tpm, key, nil)

	v2 := []string{".linux\x00", "kernel v2", "enter-initrd", "leave-initrd"}
	tpm.reboot(t)
	tpm.extend(t, PCR, v2...)
	if _, err := unseal(t, tpm, blob, signedUKI(t, key, bootWords...)); !errors.Is(err, ErrNotSigned) {
		t.Errorf("v1's signature on a v2 boot: err = %v, want %v", err, ErrNotSigned)
	}
	got, err := unseal(t, tpm, blob, signedUKI(t, key, v2...))
	if err != nil || !bytes.Equal(got, secret) {
		t.Errorf("v2 signed with the same key: Unseal = %q, %v; want the secret without sealing again", got, err)
	}
}

func TestUnsealLockedAfterReady(t *testing.T) {
	tpm := openSimulator(t)
	key, _ := testKeys(t)
	tpm.extend(t, PCR, bootWords...)
	blob := seal(t, tpm, key, nil)
	u := signedUKI(t, key, bootWords...)
	if _, err := unseal(t, tpm, blob, u); err != nil {
		t.Fatalf("Unseal before ready: %v", err)
	}
	tpm.extend(t, PCR, "ready")
	_, err := unseal(t, tpm, blob, u)
	if !errors.Is(err, ErrNotSigned) {
		t.Fatalf("Unseal after ready: err = %v, want %v", err, ErrNotSigned)
	}
	// The error shows this boot's digest and the signed one, to compare with the manifest.
	sig, _ := ParseSignature(u.signature)
	signed := hex.EncodeToString(sig["sha256"][0].Policy)
	if !strings.Contains(err.Error(), signed) || strings.Count(err.Error(), " digest is ") != 1 {
		t.Errorf("error %q does not name both digests", err)
	}
}

func TestUnsealOtherKey(t *testing.T) {
	tpm := openSimulator(t)
	key, other := testKeys(t)
	tpm.extend(t, PCR, bootWords...)
	blob := seal(t, tpm, key, nil)
	genuine, forged := signedUKI(t, key, bootWords...), signedUKI(t, other, bootWords...)

	if _, err := unseal(t, tpm, blob, forged); !errors.Is(err, ErrKeyMismatch) {
		t.Errorf("UKI signed with and carrying another key: err = %v, want %v", err, ErrKeyMismatch)
	}
	foreign := uki{signature: forged.signature, publicKey: genuine.publicKey}
	if _, err := unseal(t, tpm, blob, foreign); !errors.Is(err, ErrNotSigned) {
		t.Errorf("signature by another key: err = %v, want %v", err, ErrNotSigned)
	}
	// The other key's signature under the genuine key's fingerprint: only the TPM can tell.
	fpOther, fpGenuine := hex.EncodeToString(keyFingerprint(&other.PublicKey)), hex.EncodeToString(keyFingerprint(&key.PublicKey))
	relabelled := uki{signature: bytes.ReplaceAll(forged.signature, []byte(fpOther), []byte(fpGenuine)), publicKey: genuine.publicKey}
	_, err := unseal(t, tpm, blob, relabelled)
	if !errors.Is(err, tpm2.TPMRCSignature) || !strings.Contains(err.Error(), "VerifySignature") {
		t.Errorf("relabelled signature: err = %v, want VerifySignature: TPM_RC_SIGNATURE", err)
	}
}

func TestUnsealPCR7Bound(t *testing.T) {
	tpm := openSimulator(t)
	key, _ := testKeys(t)
	tpm.extend(t, pcrSecureBoot, "SecureBoot=1", "db v1")
	tpm.extend(t, PCR, bootWords...)
	pcr7, err := ReadPCR(tpm, pcrSecureBoot)
	if err != nil {
		t.Fatal(err)
	}
	blob := seal(t, tpm, key, pcr7)
	u := signedUKI(t, key, bootWords...)
	if got, err := unseal(t, tpm, blob, u); err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("Unseal with PCR 7 unchanged = %q, %v", got, err)
	}

	tpm.reboot(t)
	tpm.extend(t, pcrSecureBoot, "SecureBoot=1", "db v2")
	tpm.extend(t, PCR, bootWords...)
	if _, err := unseal(t, tpm, blob, u); !errors.Is(err, ErrPCR7Mismatch) {
		t.Errorf("PCR 7 changed: err = %v, want %v", err, ErrPCR7Mismatch)
	}
	// Without the early check, the TPM itself refuses.
	if _, err := unsealSkippingPCR7Check(t, tpm, blob, u); !errors.Is(err, tpm2.TPMRCPolicyFail) {
		t.Errorf("PCR 7 changed, TPM alone: err = %v, want TPM_RC_POLICY_FAIL", err)
	}
	tpm.checkNoTransients(t)
}

// unsealSkippingPCR7Check is Unseal with PolicyPCR(7) on the current value instead of
// checkPCR7, to show that the TPM enforces PCR 7, not only this package.
func unsealSkippingPCR7Check(t *testing.T, tpm *simTPM, blob *Blob, u uki) (_ []byte, err error) {
	t.Helper()
	s, err := blob.decode()
	if err != nil {
		t.Fatal(err)
	}
	pub, sig, err := parseUKIPolicy(s, u.signature, u.publicKey)
	if err != nil {
		t.Fatal(err)
	}
	tr := &transients{tpm: tpm}
	defer func() { err = joinFlush(err, tr) }()
	parent, err := createSRK(tpm, tr)
	if err != nil {
		t.Fatal(err)
	}
	object, err := load(tpm, parent, s, tr)
	if err != nil {
		t.Fatal(err)
	}
	withoutPCR7 := *s
	withoutPCR7.pcr7 = nil
	session, err := authorize(tpm, &withoutPCR7, pub, sig, tr)
	if err != nil {
		t.Fatal(err)
	}
	if err := policyPCR(tpm, session, pcrSecureBoot, nil); err != nil {
		t.Fatal(err)
	}
	rsp, err := tpm2.Unseal{ItemHandle: tpm2.AuthHandle{Handle: object.Handle, Name: object.Name, Auth: session}}.Execute(tpm)
	if err != nil {
		return nil, tpmError("Unseal", err)
	}
	return rsp.OutData.Buffer, nil
}

func TestUnsealTamperedBlob(t *testing.T) {
	tpm := openSimulator(t)
	key, _ := testKeys(t)
	tpm.extend(t, PCR, bootWords...)
	blob := seal(t, tpm, key, nil)
	blob.Private[len(blob.Private)-1] ^= 1
	_, err := unseal(t, tpm, blob, signedUKI(t, key, bootWords...))
	if !errors.Is(err, tpm2.TPMRCIntegrity) || !strings.Contains(err.Error(), "tpmseal: Load: ") {
		t.Errorf("flipped private bit: err = %v, want Load: TPM_RC_INTEGRITY", err)
	}
}

// TestPolicyDigestMatchesTPM has the TPM compute the policy in a trial session and
// compares it with Policy.Digest and with the sealed object's authPolicy.
func TestPolicyDigestMatchesTPM(t *testing.T) {
	tpm := openSimulator(t)
	key, _ := testKeys(t)
	for _, pcr7 := range [][]byte{nil, bytes.Repeat([]byte{7}, 32)} {
		pol := Policy{PCRPublicKey: &key.PublicKey, PCR7: pcr7}
		digest, err := pol.Digest()
		if err != nil {
			t.Fatal(err)
		}
		if trial := trialPolicy(t, tpm, pol); !bytes.Equal(digest, trial) {
			t.Errorf("PCR7 %x: Policy.Digest = %x, TPM trial session %x", pcr7, digest, trial)
		}
		blob, err := Seal(tpm, secret, pol)
		if err != nil {
			t.Fatal(err)
		}
		s, err := blob.decode()
		if err != nil {
			t.Fatal(err)
		}
		public, err := s.public.Contents()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(public.AuthPolicy.Buffer, digest) {
			t.Errorf("PCR7 %x: object authPolicy %x, Policy.Digest %x", pcr7, public.AuthPolicy.Buffer, digest)
		}
	}
	tpm.checkNoTransients(t)
}

// trialPolicy runs pol's commands in a TPM trial session and returns its digest.
func trialPolicy(t *testing.T, tpm *simTPM, pol Policy) []byte {
	t.Helper()
	session, closeSession, err := tpm2.PolicySession(tpm, tpm2.TPMAlgSHA256, nonceSize, tpm2.Trial())
	if err != nil {
		t.Fatal(err)
	}
	defer closeSession()
	name, err := pol.keyName()
	if err != nil {
		t.Fatal(err)
	}
	nullTicket := &tpm2.TPMTTKVerified{Tag: tpm2.TPMSTVerified, Hierarchy: tpm2.TPMRHNull} // unchecked in a trial
	if err := policyAuthorize(tpm, session, make([]byte, 32), name, nullTicket); err != nil {
		t.Fatal(err)
	}
	if pol.PCR7 != nil {
		if err := policyPCR(tpm, session, pcrSecureBoot, pol.PCR7); err != nil {
			t.Fatal(err)
		}
	}
	digest, err := policyDigestOf(tpm, session)
	if err != nil {
		t.Fatal(err)
	}
	return digest
}

func TestSealRejects(t *testing.T) {
	tpm := openSimulator(t)
	key, _ := testKeys(t)
	tests := []struct {
		name   string
		secret []byte
		pol    Policy
		want   error
	}{
		{"empty secret", nil, Policy{PCRPublicKey: &key.PublicKey}, ErrSecret},
		{"long secret", make([]byte, 129), Policy{PCRPublicKey: &key.PublicKey}, ErrSecret},
		{"no key", secret, Policy{}, ErrPolicy},
		{"short PCR 7", secret, Policy{PCRPublicKey: &key.PublicKey, PCR7: []byte{1}}, ErrPolicy},
	}
	for _, tt := range tests {
		if _, err := Seal(tpm, tt.secret, tt.pol); !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
	}
	tpm.checkNoTransients(t)
}

func TestOpenNoTPM(t *testing.T) {
	for _, path := range []string{t.TempDir() + "/tpmrm0", t.TempDir()} {
		if _, err := Open(path); !errors.Is(err, ErrNoTPM) {
			t.Errorf("Open(%s): err = %v, want %v", path, err, ErrNoTPM)
		}
	}
}

// TestSecretEncryptedOnTheWire checks that the secret never crosses the transport in the
// clear, going into Create or coming out of Unseal.
func TestSecretEncryptedOnTheWire(t *testing.T) {
	tpm := &wire{simTPM: openSimulator(t)}
	key, _ := testKeys(t)
	tpm.extend(t, PCR, bootWords...)
	blob, err := Seal(tpm, secret, Policy{PCRPublicKey: &key.PublicKey})
	if err != nil {
		t.Fatal(err)
	}
	u := signedUKI(t, key, bootWords...)
	got, err := Unseal(tpm, blob, u.signature, u.publicKey)
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("Unseal = %q, %v", got, err)
	}
	for i, msg := range tpm.traffic {
		if bytes.Contains(msg, secret[:16]) {
			t.Errorf("message %d carries the secret in the clear: %x", i, msg)
		}
	}
	if len(tpm.traffic) < 10 {
		t.Errorf("recorded %d messages, the transport was bypassed", len(tpm.traffic))
	}
}
