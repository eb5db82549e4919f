package pcr

import (
	"crypto"
	"encoding/binary"
	"fmt"
	"slices"
)

// PolicyHash is the hash of the policy sessions this package computes
// digests for; systemd starts every session with TPM_ALG_SHA256.
const PolicyHash = crypto.SHA256

// Command codes that enter a policy digest (TPM 2.0 Part 2, table 12).
const (
	ccPolicyAuthorize uint32 = 0x0000016A
	ccPolicyPCR       uint32 = 0x0000017F
)

// MaxIndex is the highest PCR index a selection can name: PC-client TPMs
// have 24 PCRs, and systemd always sends a 3-byte pcrSelect.
const MaxIndex = 23

// pcrSelectSize is sizeofSelect of TPMS_PCR_SELECTION.
const pcrSelectSize = 3

// ZeroPolicy returns the digest a policy session starts with.
func ZeroPolicy() []byte { return make([]byte, PolicyHash.Size()) }

// PolicyPCRDigest returns the policy digest of a fresh session after
// TPM2_PolicyPCR on the PCRs of bank listed in indexes, expected to hold
// values (values[i] is the value of PCR indexes[i]). It is PolicyPCR from
// ZeroPolicy.
func PolicyPCRDigest(bank crypto.Hash, indexes []int, values [][]byte) ([]byte, error) {
	return PolicyPCR(ZeroPolicy(), bank, indexes, values)
}

// PolicyPCR returns policy extended by TPM2_PolicyPCR (TPM 2.0 Part 3,
// 23.7):
//
//	H(policy || TPM_CC_PolicyPCR || TPML_PCR_SELECTION || H(values))
//
// where H is PolicyHash, the selection names bank and indexes, and the
// values are concatenated in ascending PCR index order, as the TPM reads
// them.
func PolicyPCR(policy []byte, bank crypto.Hash, indexes []int, values [][]byte) ([]byte, error) {
	if len(policy) != PolicyHash.Size() {
		return nil, fmt.Errorf("%w: policy digest of %d bytes, want %d", ErrPolicy, len(policy), PolicyHash.Size())
	}
	selection, err := MarshalPCRSelection(bank, indexes)
	if err != nil {
		return nil, err
	}
	concatenated, err := concatValues(bank, indexes, values)
	if err != nil {
		return nil, err
	}
	h := PolicyHash.New()
	h.Write(policy)
	h.Write(binary.BigEndian.AppendUint32(nil, ccPolicyPCR))
	h.Write(selection)
	h.Write(digest(PolicyHash, concatenated))
	return h.Sum(nil), nil
}

// MarshalPCRSelection returns the TPML_PCR_SELECTION with one
// TPMS_PCR_SELECTION for bank selecting indexes.
func MarshalPCRSelection(bank crypto.Hash, indexes []int) ([]byte, error) {
	alg, err := AlgID(bank)
	if err != nil {
		return nil, err
	}
	var selected [pcrSelectSize]byte
	for _, i := range indexes {
		if i < 0 || i > MaxIndex {
			return nil, fmt.Errorf("%w: %d (want 0 to %d)", ErrIndex, i, MaxIndex)
		}
		selected[i/8] |= 1 << (i % 8)
	}
	b := binary.BigEndian.AppendUint32(nil, 1) // count
	b = binary.BigEndian.AppendUint16(b, alg)
	b = append(b, pcrSelectSize)
	return append(b, selected[:]...), nil
}

// concatValues checks values against bank and indexes and returns them
// concatenated in ascending index order.
func concatValues(bank crypto.Hash, indexes []int, values [][]byte) ([]byte, error) {
	if len(indexes) == 0 || len(values) != len(indexes) {
		return nil, fmt.Errorf("%w: %d PCR indexes and %d values", ErrPolicy, len(indexes), len(values))
	}
	order := make([]int, len(indexes))
	for i := range order {
		order[i] = i
		if len(values[i]) != bank.Size() {
			return nil, fmt.Errorf("%w: PCR %d: %d bytes for %v", ErrValue, indexes[i], len(values[i]), bank)
		}
	}
	slices.SortFunc(order, func(a, b int) int { return indexes[a] - indexes[b] })
	var out []byte
	for n, i := range order {
		if n > 0 && indexes[i] == indexes[order[n-1]] {
			return nil, fmt.Errorf("%w: PCR %d listed twice", ErrPolicy, indexes[i])
		}
		out = append(out, values[i]...)
	}
	return out, nil
}

// PolicyAuthorizeDigest returns the policy digest that TPM2_PolicyAuthorize
// leaves (TPM 2.0 Part 3, 23.16): the session digest is reset, then
//
//	d = H(zero || TPM_CC_PolicyAuthorize || keyName)
//	H(d || policyRef)
//
// keyName is the TPM2 Name of the key that signs approved policies (see
// RSAPublicName); systemd uses an empty policyRef. An object sealed with
// this digest opens for any PCR policy that key signed.
func PolicyAuthorizeDigest(keyName []byte, policyRef []byte) []byte {
	h := PolicyHash.New()
	h.Write(ZeroPolicy())
	h.Write(binary.BigEndian.AppendUint32(nil, ccPolicyAuthorize))
	h.Write(keyName)
	h2 := PolicyHash.New()
	h2.Write(h.Sum(nil))
	h2.Write(policyRef)
	return h2.Sum(nil)
}
