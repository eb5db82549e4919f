// Package tpmquote is the node side of remote attestation: it has the TPM quote PCR values
// with Kiln's attestation key (AK), so that an operator can check them with
// measure/attest.Verify (kilnctl pcrs --quote).
//
// Quote creates the AK as a primary key under the endorsement hierarchy from the fixed
// template measure/attest.AKTemplate. A primary key is derived from the hierarchy's seed
// and the template, so the same TPM gives the same AK on every boot until its
// endorsement seed changes (TPM2_Clear does not change it; TPM2_ChangeEPS does): nothing
// is stored, and the AK's fingerprint can be recorded once and pinned. The endorsement
// hierarchy's auth value is assumed empty, as firmware leaves it.
//
// What a quote proves, and that the AK is not certified against the EK, is said in
// measure/attest.
//
// The room: TPM commands for quoting only. It does not read PCR values (the API reads
// them from sysfs), extend PCRs, seal, or open the device; the caller passes a TPM
// (initd/tpmseal.Open gives one for /dev/tpmrm0).
package tpmquote

import (
	"errors"
	"fmt"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	verify "github.com/kiln-os/kiln/measure/attest"
)

// ErrNonce is returned for a nonce a quote cannot carry.
var ErrNonce = errors.New("tpmquote: nonce must be 1-64 bytes")

// Quote has the TPM sign a quote over pcrs in bank with nonce as its qualifying data. It
// returns the TPMS_ATTEST the TPM signed, the TPMT_SIGNATURE and the AK's TPMT_PUBLIC,
// each as the TPM encodes it. Every handle it loads is flushed before it returns.
func Quote(tpm transport.TPM, nonce []byte, bank string, pcrs []uint32) (attest, signature, akPublic []byte, err error) {
	if len(nonce) == 0 || len(nonce) > verify.MaxNonce {
		return nil, nil, nil, fmt.Errorf("%w: got %d", ErrNonce, len(nonce))
	}
	selection, err := verify.Selection(bank, pcrs)
	if err != nil {
		return nil, nil, nil, err
	}
	ak, err := tpm2.CreatePrimary{
		PrimaryHandle: tpm2.TPMRHEndorsement,
		InPublic:      tpm2.New2B(verify.AKTemplate()),
	}.Execute(tpm)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("tpmquote: CreatePrimary(AK): %w", err)
	}
	defer func() {
		if _, flushErr := (tpm2.FlushContext{FlushHandle: ak.ObjectHandle}).Execute(tpm); flushErr != nil {
			err = errors.Join(err, fmt.Errorf("tpmquote: FlushContext(AK): %w", flushErr))
		}
	}()
	rsp, err := tpm2.Quote{
		SignHandle:     tpm2.AuthHandle{Handle: ak.ObjectHandle, Name: ak.Name, Auth: tpm2.PasswordAuth(nil)},
		QualifyingData: tpm2.TPM2BData{Buffer: nonce},
		InScheme:       tpm2.TPMTSigScheme{Scheme: tpm2.TPMAlgNull}, // the AK's own ECDSA-SHA256
		PCRSelect:      selection,
	}.Execute(tpm)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("tpmquote: Quote: %w", err)
	}
	return rsp.Quoted.Bytes(), tpm2.Marshal(rsp.Signature), ak.OutPublic.Bytes(), nil
}
