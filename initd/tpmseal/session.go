package tpmseal

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"fmt"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"github.com/kiln-os/kiln/measure/pcr"
)

// nonceSize is the caller nonce of the sessions: the size of the SHA-256 session hash,
// at least the 16 bytes TPM2_StartAuthSession requires.
const nonceSize = 32

// pcrSelection returns the TPML_PCR_SELECTION of one SHA-256 PCR, marshalled by
// measure/pcr so that the TPM sees the selection the build hashed into the policy.
func pcrSelection(index int) (tpm2.TPMLPCRSelection, error) {
	b, err := pcr.MarshalPCRSelection(crypto.SHA256, []int{index})
	if err != nil {
		return tpm2.TPMLPCRSelection{}, err
	}
	selection, err := tpm2.Unmarshal[tpm2.TPMLPCRSelection](b)
	if err != nil {
		return tpm2.TPMLPCRSelection{}, fmt.Errorf("tpmseal: PCR selection %x: %w", b, err)
	}
	return *selection, nil
}

// startPolicy starts a SHA-256 policy session, registered with tr for flushing.
func startPolicy(tpm transport.TPM, tr *transients) (tpm2.Session, error) {
	session, _, err := tpm2.PolicySession(tpm, tpm2.TPMAlgSHA256, nonceSize)
	if err != nil {
		return nil, tpmError("StartAuthSession(policy)", err)
	}
	tr.add(session.Handle())
	return session, nil
}

// policyPCR runs TPM2_PolicyPCR on one SHA-256 PCR in session. An empty expected value
// lets the TPM take the PCR as it is now; otherwise the TPM refuses (TPM_RC_VALUE) when
// the PCR does not hold it.
func policyPCR(tpm transport.TPM, session tpm2.Session, index int, expected []byte) error {
	selection, err := pcrSelection(index)
	if err != nil {
		return err
	}
	var digest []byte
	if len(expected) != 0 {
		sum := sha256.Sum256(expected)
		digest = sum[:]
	}
	_, err = tpm2.PolicyPCR{
		PolicySession: session.Handle(),
		PcrDigest:     tpm2.TPM2BDigest{Buffer: digest},
		Pcrs:          selection,
	}.Execute(tpm)
	if err != nil {
		return tpmError(fmt.Sprintf("PolicyPCR(%d)", index), err)
	}
	return nil
}

// policyDigestOf returns the session's current policy digest.
func policyDigestOf(tpm transport.TPM, session tpm2.Session) ([]byte, error) {
	rsp, err := tpm2.PolicyGetDigest{PolicySession: session.Handle()}.Execute(tpm)
	if err != nil {
		return nil, tpmError("PolicyGetDigest", err)
	}
	return rsp.PolicyDigest.Buffer, nil
}

// verifyPolicy has the TPM check the PCR key's signature over an approved policy (empty
// policyRef) and returns the ticket TPM2_PolicyAuthorize takes. The key is loaded the way
// systemd loads it (measure/pcr.RSAPublicArea) under the owner hierarchy: a key in the
// null hierarchy would get a null ticket, which PolicyAuthorize refuses.
func verifyPolicy(tpm transport.TPM, pub *rsa.PublicKey, keyName []byte, signed SignedPolicy) (ticket *tpm2.TPMTTKVerified, err error) {
	area, err := pcr.RSAPublicArea(pub)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPublicKey, err)
	}
	public, err := tpm2.Unmarshal[tpm2.TPMTPublic](area)
	if err != nil {
		return nil, fmt.Errorf("%w: public area: %w", ErrPublicKey, err)
	}
	tr := &transients{tpm: tpm}
	defer func() { err = joinFlush(err, tr) }()
	loaded, err := tpm2.LoadExternal{InPublic: tpm2.New2B(*public), Hierarchy: tpm2.TPMRHOwner}.Execute(tpm)
	if err != nil {
		return nil, tpmError("LoadExternal(PCR key)", err)
	}
	tr.add(loaded.ObjectHandle)
	if !bytes.Equal(loaded.Name.Buffer, keyName) {
		return nil, fmt.Errorf("tpmseal: LoadExternal(PCR key): TPM names the key %x, measure/pcr %x", loaded.Name.Buffer, keyName)
	}
	approved := sha256.Sum256(signed.Policy) // H(approvedPolicy || policyRef), policyRef empty
	rsp, err := tpm2.VerifySignature{
		KeyHandle: tpm2.NamedHandle{Handle: loaded.ObjectHandle, Name: loaded.Name},
		Digest:    tpm2.TPM2BDigest{Buffer: approved[:]},
		Signature: tpm2.TPMTSignature{
			SigAlg: tpm2.TPMAlgRSASSA,
			Signature: tpm2.NewTPMUSignature(tpm2.TPMAlgRSASSA, &tpm2.TPMSSignatureRSA{
				Hash: tpm2.TPMAlgSHA256,
				Sig:  tpm2.TPM2BPublicKeyRSA{Buffer: signed.Signature},
			}),
		},
	}.Execute(tpm)
	if err != nil {
		return nil, tpmError("VerifySignature", err)
	}
	return &rsp.Validation, nil
}

// policyAuthorize runs TPM2_PolicyAuthorize: the session's digest, which must equal
// approved, becomes PolicyAuthorize(keyName, empty policyRef).
func policyAuthorize(tpm transport.TPM, session tpm2.Session, approved, keyName []byte, ticket *tpm2.TPMTTKVerified) error {
	_, err := tpm2.PolicyAuthorize{
		PolicySession:  session.Handle(),
		ApprovedPolicy: tpm2.TPM2BDigest{Buffer: approved},
		KeySign:        tpm2.TPM2BName{Buffer: keyName},
		CheckTicket:    *ticket,
	}.Execute(tpm)
	if err != nil {
		return tpmError("PolicyAuthorize", err)
	}
	return nil
}
