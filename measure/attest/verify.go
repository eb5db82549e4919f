package attest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"

	"github.com/google/go-tpm/tpm2"
)

// Result is what a verified quote tells about the node's TPM.
type Result struct {
	// AKName is the TPM Name of the attestation key: 0x000b || SHA-256(akPublic).
	AKName []byte
	// AKFingerprint is the hex SHA-256 of akPublic (the digest in AKName): the value to
	// record at enrolment and pin afterwards.
	AKFingerprint string
	// Bank and PCRs are the quoted selection, PCRs in ascending order.
	Bank string
	PCRs []uint32
	// Clock is the TPM's clock in milliseconds; ResetCount counts TPM resets (boots),
	// RestartCount resumes since the last reset; Safe is false when the clock may have
	// gone backwards (TPMS_CLOCK_INFO). The TPM signed them, but an uncertified AK makes
	// them only as trustworthy as the key.
	Clock        uint64
	ResetCount   uint32
	RestartCount uint32
	Safe         bool
	// FirmwareVersion is the TPM vendor's firmware version.
	FirmwareVersion uint64
}

// Verify checks that attest and signature are a quote by the key akPublic, made for nonce,
// over exactly the PCRs in values in bank, and that values are what the TPM quoted. The
// package doc lists the checks and what a success does and does not prove. Errors wrap
// one of this package's sentinels and say what does not match.
func Verify(akPublic, attest, signature, nonce []byte, bank string, values map[uint32][]byte) (*Result, error) {
	if len(nonce) == 0 || len(nonce) > MaxNonce {
		return nil, fmt.Errorf("%w: %d bytes, want 1-%d", ErrNonce, len(nonce), MaxNonce)
	}
	want, err := Selection(bank, sortedIndexes(values))
	if err != nil {
		return nil, err
	}
	key, err := parseAKPublic(akPublic)
	if err != nil {
		return nil, err
	}
	if err := checkSignature(key.key, attest, signature); err != nil {
		return nil, err
	}
	q, err := parseAttest(attest)
	if err != nil {
		return nil, err
	}
	if err := q.check(key, nonce, want); err != nil {
		return nil, err
	}
	if err := checkDigest(q.info.PCRDigest.Buffer, bank, values); err != nil {
		return nil, err
	}
	return newResult(key, q, bank, values), nil
}

// checkSignature verifies the ECDSA signature over SHA-256(attest). It runs before
// attest is parsed, so unsigned bytes never reach the parser of a successful Verify.
func checkSignature(key *ecdsa.PublicKey, attest, signature []byte) error {
	r, s, err := parseSignature(signature)
	if err != nil {
		return err
	}
	digest := sha256.Sum256(attest)
	if !ecdsa.Verify(key, digest[:], r, s) {
		return fmt.Errorf("%w: the signature over the quote does not verify with the attestation key", ErrSignature)
	}
	return nil
}

// check compares the signed fields of q with what the caller expects.
func (q *quote) check(key *ak, nonce []byte, want tpm2.TPMLPCRSelection) error {
	if !bytes.Equal(q.attest.ExtraData.Buffer, nonce) {
		return fmt.Errorf("%w: the quote is for nonce %x, not %x (a replayed or foreign quote)", ErrNonce, q.attest.ExtraData.Buffer, nonce)
	}
	if signer := endorsementQualifiedName(key.name); !bytes.Equal(q.attest.QualifiedSigner.Buffer, signer) {
		return fmt.Errorf("%w: signer's qualified name %x, want %x (a primary key of the endorsement hierarchy)", ErrAttest, q.attest.QualifiedSigner.Buffer, signer)
	}
	if got, want := tpm2.Marshal(q.info.PCRSelect), tpm2.Marshal(want); !bytes.Equal(got, want) {
		return fmt.Errorf("%w: quoted selection %x, reported values select %x (TPML_PCR_SELECTION)", ErrSelection, got, want)
	}
	return nil
}

// endorsementQualifiedName is the qualified name of a primary key named name in the
// endorsement hierarchy: nameAlg || SHA-256(TPM_RH_ENDORSEMENT || name) (TPM 2.0 Part 1,
// 16 "Names": a hierarchy's qualified name is its handle).
func endorsementQualifiedName(name []byte) []byte {
	h := sha256.New()
	binary.Write(h, binary.BigEndian, uint32(tpm2.TPMRHEndorsement))
	h.Write(name)
	return h.Sum(binary.BigEndian.AppendUint16(nil, uint16(tpm2.TPMAlgSHA256)))
}

// checkDigest compares pcrDigest with SHA-256 (the AK's signing hash) of the values in
// index order, each of which must be a digest of bank's size.
func checkDigest(pcrDigest []byte, bank string, values map[uint32][]byte) error {
	size := bankAlgs[bank].hash.Size()
	h := sha256.New()
	for _, i := range sortedIndexes(values) {
		if len(values[i]) != size {
			return fmt.Errorf("%w: PCR %d has %d bytes, a %s value has %d", ErrPCRDigest, i, len(values[i]), bank, size)
		}
		h.Write(values[i])
	}
	if got := h.Sum(nil); !bytes.Equal(got, pcrDigest) {
		return fmt.Errorf("%w: SHA-256 of the reported values is %x, the quote's pcrDigest is %x", ErrPCRDigest, got, pcrDigest)
	}
	return nil
}

func newResult(key *ak, q *quote, bank string, values map[uint32][]byte) *Result {
	clock := q.attest.ClockInfo
	return &Result{
		AKName:          key.name,
		AKFingerprint:   hex.EncodeToString(key.name[2:]),
		Bank:            bank,
		PCRs:            sortedIndexes(values),
		Clock:           clock.Clock,
		ResetCount:      clock.ResetCount,
		RestartCount:    clock.RestartCount,
		Safe:            bool(clock.Safe),
		FirmwareVersion: q.attest.FirmwareVersion,
	}
}
