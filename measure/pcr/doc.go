// Package pcr is the arithmetic of TPM 2.0 platform configuration registers
// and policies, computed in software: extending a PCR, replaying a list of
// measurements, and the policy digests of TPM2_PolicyPCR and
// TPM2_PolicyAuthorize, plus the TPM2 Name of an RSA public key the way
// systemd (v252) loads it for a signed PCR policy; and the words Kiln's boot
// phases extend into PCR 11 (Phases), which the builder predicts and the node
// measures.
//
// The room: both the builder (which predicts PCR 11 and signs the policy
// into the UKI's .pcrpkey/.pcrsig) and machined (which seals STATE's key and
// checks quotes) import this package, so it is a leaf: standard library
// only, no TPM access, no I/O, and no imports of builder or node packages.
//
// Supported subset: PCR banks SHA-1, SHA-256, SHA-384 and SHA-512; policy
// sessions hashed with SHA-256 (the only policy algorithm systemd uses);
// PCRs 0 to 23 (a 3-byte pcrSelect, as systemd and every PC-client TPM
// use); RSA public keys of up to 4096 bits with a 4-byte public exponent.
//
// All structures are marshalled by hand, big-endian, as TPM 2.0 Part 2
// defines them; the tests pin them with vectors cross-checked against
// systemd-measure and a software TPM (swtpm).
package pcr
