package tpmseal

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"fmt"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// Unseal returns the secret sealed in blob if the TPM agrees that this boot may have it:
// PCR 11 must hold a value whose PolicyPCR digest the PCR key signed in signature (the
// .pcrsig JSON), publicKeyPEM (the .pcrpkey) must be the key the blob was sealed to, and
// PCR 7 must hold the bound value, if any. The secret comes back from the TPM encrypted.
func Unseal(tpm transport.TPM, blob *Blob, signature []byte, publicKeyPEM []byte) (secret []byte, err error) {
	if blob == nil {
		return nil, fmt.Errorf("%w: none", ErrBlob)
	}
	s, err := blob.decode()
	if err != nil {
		return nil, err
	}
	pub, sig, err := parseUKIPolicy(s, signature, publicKeyPEM)
	if err != nil {
		return nil, err
	}
	tr := &transients{tpm: tpm}
	defer func() {
		if err = joinFlush(err, tr); err != nil {
			clear(secret)
			secret = nil
		}
	}()
	parent, err := createSRK(tpm, tr)
	if err != nil {
		return nil, err
	}
	object, err := load(tpm, parent, s, tr)
	if err != nil {
		return nil, err
	}
	session, err := authorize(tpm, s, pub, sig, tr)
	if err != nil {
		return nil, err
	}
	rsp, err := tpm2.Unseal{
		ItemHandle: tpm2.AuthHandle{Handle: object.Handle, Name: object.Name, Auth: session},
	}.Execute(tpm, parent.encryptSession(tpm2.AESEncryption(aesKeyBits, tpm2.EncryptOut)))
	if err != nil {
		return nil, tpmError("Unseal", err)
	}
	return rsp.OutData.Buffer, nil
}

// parseUKIPolicy parses the UKI's PCR key and signature and checks that the key is the one
// the blob was sealed to.
func parseUKIPolicy(s *sealed, signature, publicKeyPEM []byte) (*rsa.PublicKey, Signature, error) {
	pub, err := ParsePublicKeyPEM(publicKeyPEM)
	if err != nil {
		return nil, nil, err
	}
	sig, err := ParseSignature(signature)
	if err != nil {
		return nil, nil, err
	}
	name, err := Policy{PCRPublicKey: pub}.keyName()
	if err != nil {
		return nil, nil, err
	}
	if !bytes.Equal(name, s.keyName) {
		return nil, nil, fmt.Errorf("%w: sealed to the key named %x, the UKI carries %x (fingerprint %x): boot a UKI signed with the machine's PCR key, or seal again",
			ErrKeyMismatch, s.keyName, name, keyFingerprint(pub))
	}
	return pub, sig, nil
}

// load loads the sealed object under the SRK, registered with tr for flushing.
func load(tpm transport.TPM, parent *srk, s *sealed, tr *transients) (*tpm2.NamedHandle, error) {
	rsp, err := tpm2.Load{
		ParentHandle: parent.auth(tpm2.PasswordAuth(nil)),
		InPrivate:    s.private,
		InPublic:     s.public,
	}.Execute(tpm)
	if err != nil {
		return nil, tpmError("Load", err)
	}
	tr.add(rsp.ObjectHandle)
	return &tpm2.NamedHandle{Handle: rsp.ObjectHandle, Name: rsp.Name}, nil
}

// authorize runs the sealed object's policy in a new session and returns the session:
// PolicyPCR on PCR 11 as it is, the signed policy for that digest verified by the TPM,
// PolicyAuthorize, then PolicyPCR on PCR 7 when it is bound.
func authorize(tpm transport.TPM, s *sealed, pub *rsa.PublicKey, sig Signature, tr *transients) (tpm2.Session, error) {
	session, err := startPolicy(tpm, tr)
	if err != nil {
		return nil, err
	}
	if err := policyPCR(tpm, session, PCR, nil); err != nil {
		return nil, err
	}
	current, err := policyDigestOf(tpm, session)
	if err != nil {
		return nil, err
	}
	signed, ok := sig.find(keyFingerprint(pub), current)
	if !ok {
		return nil, fmt.Errorf("%w: this boot's PolicyPCR digest is %x, the UKI's key signed %x (the boot is past leave-initrd, or the UKI's prediction is wrong)",
			ErrNotSigned, current, sig.policies(keyFingerprint(pub)))
	}
	ticket, err := verifyPolicy(tpm, pub, s.keyName, signed)
	if err != nil {
		return nil, err
	}
	if err := policyAuthorize(tpm, session, signed.Policy, s.keyName, ticket); err != nil {
		return nil, err
	}
	if s.pcr7 == nil {
		return session, nil
	}
	if err := checkPCR7(tpm, s.pcr7); err != nil {
		return nil, err
	}
	return session, policyPCR(tpm, session, pcrSecureBoot, s.pcr7)
}

// checkPCR7 compares PCR 7 with the bound value, to say what changed before the TPM
// refuses.
func checkPCR7(tpm transport.TPM, want []byte) error {
	current, err := ReadPCR(tpm, pcrSecureBoot)
	if err != nil {
		return err
	}
	if !bytes.Equal(current, want) {
		return fmt.Errorf("%w: PCR 7 is %x, sealed with %x: Secure Boot keys or settings changed; recover the key and seal again", ErrPCR7Mismatch, current, want)
	}
	return nil
}

// ReadPCR returns the SHA-256 bank value of PCR index, as machined passes it in
// Policy.PCR7.
func ReadPCR(tpm transport.TPM, index int) ([]byte, error) {
	selection, err := pcrSelection(index)
	if err != nil {
		return nil, err
	}
	rsp, err := tpm2.PCRRead{PCRSelectionIn: selection}.Execute(tpm)
	if err != nil {
		return nil, tpmError(fmt.Sprintf("PCR_Read(%d)", index), err)
	}
	if len(rsp.PCRValues.Digests) != 1 || len(rsp.PCRValues.Digests[0].Buffer) != crypto.SHA256.Size() {
		return nil, fmt.Errorf("tpmseal: PCR_Read(%d): the TPM has no SHA-256 bank", index)
	}
	return rsp.PCRValues.Digests[0].Buffer, nil
}
