package attest

import (
	"crypto"
	"errors"
	"fmt"
	"slices"

	"github.com/google/go-tpm/tpm2"
)

// Errors returned by this package, wrapped with the detail that does not match.
var (
	ErrBank      = errors.New("attest: unsupported PCR bank")
	ErrPCR       = errors.New("attest: invalid PCR selection")
	ErrNonce     = errors.New("attest: invalid nonce")
	ErrAKPublic  = errors.New("attest: invalid attestation key")
	ErrSignature = errors.New("attest: invalid quote signature")
	ErrAttest    = errors.New("attest: invalid quote")
	ErrSelection = errors.New("attest: the quote covers other PCRs than the reported values")
	ErrPCRDigest = errors.New("attest: the reported PCR values are not the quoted ones")
)

// MaxNonce is the longest nonce a quote carries: TPM2B_DATA holds a TPMT_HA, at most a
// SHA-512 digest (TPM 2.0 Part 2, 10.4.3).
const MaxNonce = 64

// MaxPCR is the highest PCR index of a PC client TPM (TCG PC Client Platform TPM
// Profile: 24 PCRs).
const MaxPCR = 23

// AKTemplate returns the public template of Kiln's attestation key: an ECC P-256 key that
// signs with ECDSA-SHA256, restricted (it signs only what the TPM itself produced: quotes,
// certifications), fixedTPM and fixedParent (never leaves this TPM), sensitiveDataOrigin
// (the TPM generated it) and userWithAuth with an empty auth value. Created as a primary
// key under the endorsement hierarchy, the same template re-derives the same key from the
// endorsement seed on every boot, so the key is never stored. The unique field is empty.
func AKTemplate() tpm2.TPMTPublic {
	return tpm2.TPMTPublic{
		Type:    tpm2.TPMAlgECC,
		NameAlg: tpm2.TPMAlgSHA256,
		ObjectAttributes: tpm2.TPMAObject{
			FixedTPM:            true,
			FixedParent:         true,
			SensitiveDataOrigin: true,
			UserWithAuth:        true,
			Restricted:          true,
			SignEncrypt:         true,
		},
		Parameters: tpm2.NewTPMUPublicParms(tpm2.TPMAlgECC, &tpm2.TPMSECCParms{
			Symmetric: tpm2.TPMTSymDefObject{Algorithm: tpm2.TPMAlgNull},
			Scheme: tpm2.TPMTECCScheme{
				Scheme:  tpm2.TPMAlgECDSA,
				Details: tpm2.NewTPMUAsymScheme(tpm2.TPMAlgECDSA, &tpm2.TPMSSigSchemeECDSA{HashAlg: tpm2.TPMAlgSHA256}),
			},
			CurveID: tpm2.TPMECCNistP256,
			KDF:     tpm2.TPMTKDFScheme{Scheme: tpm2.TPMAlgNull},
		}),
		Unique: tpm2.NewTPMUPublicID(tpm2.TPMAlgECC, &tpm2.TPMSECCPoint{}),
	}
}

// bankAlgs maps the bank names of the API (as in the TCG algorithm registry) to their
// TPM_ALG_ID and hash.
var bankAlgs = map[string]struct {
	alg  tpm2.TPMIAlgHash
	hash crypto.Hash
}{
	"sha1":   {tpm2.TPMAlgSHA1, crypto.SHA1},
	"sha256": {tpm2.TPMAlgSHA256, crypto.SHA256},
	"sha384": {tpm2.TPMAlgSHA384, crypto.SHA384},
	"sha512": {tpm2.TPMAlgSHA512, crypto.SHA512},
}

// pcrSelectSize is the size of a PC client pcrSelect bitmap: 24 PCRs, 3 bytes.
const pcrSelectSize = (MaxPCR + 1) / 8

// Selection returns the TPML_PCR_SELECTION of pcrs (in any order, distinct) in one bank.
// A quote is over exactly one bank, so Quote and Verify agree on what was asked.
func Selection(bank string, pcrs []uint32) (tpm2.TPMLPCRSelection, error) {
	b, ok := bankAlgs[bank]
	if !ok {
		return tpm2.TPMLPCRSelection{}, fmt.Errorf("%w: %q (sha1, sha256, sha384 or sha512)", ErrBank, bank)
	}
	if len(pcrs) == 0 {
		return tpm2.TPMLPCRSelection{}, fmt.Errorf("%w: no PCR selected", ErrPCR)
	}
	bitmap := make([]byte, pcrSelectSize)
	for _, i := range pcrs {
		if i > MaxPCR {
			return tpm2.TPMLPCRSelection{}, fmt.Errorf("%w: PCR %d does not exist (0-%d)", ErrPCR, i, MaxPCR)
		}
		if bitmap[i/8]&(1<<(i%8)) != 0 {
			return tpm2.TPMLPCRSelection{}, fmt.Errorf("%w: PCR %d selected twice", ErrPCR, i)
		}
		// pcrSelect is byte-wise little-endian, bit 0 of byte 0 is PCR 0 (TPM 2.0 Part 2, 10.6.1).
		bitmap[i/8] |= 1 << (i % 8)
	}
	return tpm2.TPMLPCRSelection{PCRSelections: []tpm2.TPMSPCRSelection{{Hash: b.alg, PCRSelect: bitmap}}}, nil
}

// sortedIndexes returns the keys of values in ascending order, the order in which a TPM
// concatenates PCR values for pcrDigest (TPM 2.0 Part 1, 17.5: lowest index first).
func sortedIndexes(values map[uint32][]byte) []uint32 {
	indexes := make([]uint32, 0, len(values))
	for i := range values {
		indexes = append(indexes, i)
	}
	slices.Sort(indexes)
	return indexes
}
