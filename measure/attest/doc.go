// Package attest checks a TPM 2.0 quote the way an operator's machine does: it holds the
// attestation key (AK) template Kiln nodes quote with, the PCR selection a quote covers,
// and Verify, which takes the bytes a node returned from PCRRead and says whether they
// are a genuine, fresh quote over the PCR values the node reported.
//
// # What Verify checks
//
//   - akPublic is a TPMT_PUBLIC made from AKTemplate: a restricted ECC P-256 signing key
//     with ECDSA-SHA256 that the TPM created itself and cannot export (fixedTPM,
//     fixedParent, sensitiveDataOrigin). A restricted key signs only digests the TPM
//     computed, so a quote signed by it was not forged by software holding the key.
//   - signature is an ECDSA-SHA256 signature by that key over attest.
//   - attest is a TPMS_ATTEST of type TPM_ST_ATTEST_QUOTE with the TPM_GENERATED magic,
//     signed by a primary key of the endorsement hierarchy (its qualified name), whose
//     extraData is the caller's nonce (freshness: an old quote cannot be replayed).
//   - the quoted selection is exactly one bank and exactly the reported indexes, and its
//     pcrDigest is SHA-256 of the reported values concatenated in index order.
//
// # Threat model
//
// The AK is not certified here: nothing ties it to the TPM's endorsement key or to a
// manufacturer certificate. A quote that verifies therefore proves only that the PCR values
// are consistent with, and fresh from, whatever holds the key the node presented. An
// attacker in control of the node's software could present a key of a software TPM and
// quote any values. The quote becomes evidence when the AK fingerprint is recorded at
// enrolment, over a channel the operator trusts, and pinned afterwards (trust on first
// use; kilnctl pcrs --ak-fingerprint). The AK is re-derived from the endorsement seed on
// every boot, so its fingerprint is stable until the endorsement seed changes
// (TPM2_ChangeEPS; TPM2_Clear keeps it). Certifying the AK against the EK certificate
// (TPM2_ActivateCredential) is future work.
//
// Verify says nothing about whether the values are good: comparing them with the PCR 11
// values the build predicted, or replaying the event log, is the caller's policy.
//
// # The room
//
// A leaf shared by kilnctl (which verifies) and machined (which quotes, through
// initd/tpmquote): parsing and arithmetic only, no TPM access, no I/O, and no imports of
// node, API server or builder packages. The TPM structures are decoded with go-tpm's
// tpm2 package and must re-encode to the exact input bytes, so trailing or non-canonical
// bytes are refused.
package attest
