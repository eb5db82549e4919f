package tpmseal

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"fmt"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"github.com/kiln-os/kiln/measure/pcr"
)

// maxSecret is MAX_SYM_DATA, the most a sealed data object holds (TPM 2.0 Part 2, 10.4.3).
const maxSecret = 128

// Policy says what may unseal a secret.
type Policy struct {
	// PCRPublicKey is the PCR key whose signed PCR 11 policies open the secret (the
	// .pcrpkey of the UKIs allowed to unseal).
	PCRPublicKey *rsa.PublicKey
	// PCR7, when set, is the SHA-256 value PCR 7 must also hold (the Secure Boot state).
	PCR7 []byte
}

// keyName returns the TPM Name of the PCR key as systemd loads it.
func (p Policy) keyName() ([]byte, error) {
	if p.PCRPublicKey == nil {
		return nil, fmt.Errorf("%w: no PCR public key", ErrPolicy)
	}
	name, err := pcr.RSAPublicName(p.PCRPublicKey)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPolicy, err)
	}
	return name, nil
}

// Digest returns the authPolicy of an object sealed with p:
// PolicyAuthorize(Name of the PCR key, empty policyRef), then PolicyPCR on PCR 7 holding
// PCR7 when it is set.
func (p Policy) Digest() ([]byte, error) {
	name, err := p.keyName()
	if err != nil {
		return nil, err
	}
	return policyDigest(name, p.PCR7)
}

// policyDigest is Policy.Digest from the key's Name.
func policyDigest(keyName, pcr7 []byte) ([]byte, error) {
	digest := pcr.PolicyAuthorizeDigest(keyName, nil)
	if len(pcr7) == 0 {
		return digest, nil
	}
	digest, err := pcr.PolicyPCR(digest, crypto.SHA256, []int{pcrSecureBoot}, [][]byte{pcr7})
	if err != nil {
		return nil, fmt.Errorf("%w: PCR 7: %w", ErrPolicy, err)
	}
	return digest, nil
}

// sealedTemplate is the public area of a sealed data object with authPolicy: no auth
// value opens it (userWithAuth clear), administration needs the policy too
// (adminWithPolicy), it never leaves this TPM and parent (fixedTPM, fixedParent), and
// noDA because there is no password to guess: policy failures must not lock the TPM out.
func sealedTemplate(authPolicy []byte) tpm2.TPMTPublic {
	return tpm2.TPMTPublic{
		Type:    tpm2.TPMAlgKeyedHash,
		NameAlg: tpm2.TPMAlgSHA256,
		ObjectAttributes: tpm2.TPMAObject{
			FixedTPM:        true,
			FixedParent:     true,
			AdminWithPolicy: true,
			NoDA:            true,
		},
		AuthPolicy: tpm2.TPM2BDigest{Buffer: authPolicy},
		Parameters: tpm2.NewTPMUPublicParms(tpm2.TPMAlgKeyedHash,
			&tpm2.TPMSKeyedHashParms{Scheme: tpm2.TPMTKeyedHashScheme{Scheme: tpm2.TPMAlgNull}}),
	}
}

// Seal seals secret (1 to 128 bytes) under the storage root key of tpm so that only pol
// opens it, and returns the blob to store. The secret travels to the TPM encrypted.
func Seal(tpm transport.TPM, secret []byte, pol Policy) (blob *Blob, err error) {
	if len(secret) == 0 || len(secret) > maxSecret {
		return nil, fmt.Errorf("%w: %d bytes, want 1 to %d", ErrSecret, len(secret), maxSecret)
	}
	keyName, err := pol.keyName()
	if err != nil {
		return nil, err
	}
	digest, err := policyDigest(keyName, pol.PCR7)
	if err != nil {
		return nil, err
	}
	tr := &transients{tpm: tpm}
	defer func() {
		if err = joinFlush(err, tr); err != nil {
			blob = nil
		}
	}()
	parent, err := createSRK(tpm, tr)
	if err != nil {
		return nil, err
	}
	rsp, err := tpm2.Create{
		ParentHandle: parent.auth(parent.encryptSession(tpm2.AESEncryption(aesKeyBits, tpm2.EncryptIn))),
		InSensitive: tpm2.TPM2BSensitiveCreate{Sensitive: &tpm2.TPMSSensitiveCreate{
			Data: tpm2.NewTPMUSensitiveCreate(&tpm2.TPM2BSensitiveData{Buffer: secret}),
		}},
		InPublic: tpm2.New2B(sealedTemplate(digest)),
	}.Execute(tpm)
	if err != nil {
		return nil, tpmError("Create", err)
	}
	return newBlob(rsp, keyName, pol.PCR7, digest)
}

// newBlob packs a Create response and checks that the TPM kept the policy asked for.
func newBlob(rsp *tpm2.CreateResponse, keyName, pcr7, digest []byte) (*Blob, error) {
	public, err := rsp.OutPublic.Contents()
	if err != nil {
		return nil, tpmError("Create: public area", err)
	}
	if !bytes.Equal(public.AuthPolicy.Buffer, digest) {
		return nil, fmt.Errorf("tpmseal: Create: TPM set authPolicy %x, asked for %x", public.AuthPolicy.Buffer, digest)
	}
	blob := &Blob{
		Version:      BlobVersion,
		SRK:          SRKTemplate,
		Public:       tpm2.Marshal(rsp.OutPublic),
		Private:      tpm2.Marshal(rsp.OutPrivate),
		PCRKeyName:   hexString(keyName),
		PolicyDigest: hexString(digest),
	}
	if len(pcr7) != 0 {
		blob.PCR7 = hexString(pcr7)
	}
	return blob, blob.check()
}
