// Package tpmseal seals the STATE disk key to the TPM so that only a Kiln UKI signed with
// the PCR key, in the boot phase that key approved, can read it back: the node side of
// systemd's signed PCR policy (the build signs the policy into the UKI's .pcrsig, see
// measure/pcr for the arithmetic).
//
// # How
//
// Seal creates the TCG storage root key (the ECC P-256 SRK template of the TCG "TPM v2.0
// Provisioning Guidance"; a primary key is re-derived from the owner seed on every boot
// and never stored) and, under it, a sealed data object whose only way in is the policy
//
//	TPM2_PolicyAuthorize(Name of the PCR public key, empty policyRef)
//	[ TPM2_PolicyPCR(PCR 7, SHA-256 bank, the value at sealing) ]
//
// with userWithAuth clear, so no password opens it. The Blob (public and private areas)
// goes to disk; it is useless without this TPM.
//
// Unseal starts a policy session, runs TPM2_PolicyPCR on PCR 11 as it is now, asks the
// TPM for the session digest and looks for that digest among the policies the PCR key
// signed (the sha256 entries of .pcrsig). The TPM checks the signature
// (TPM2_VerifySignature gives a ticket), TPM2_PolicyAuthorize turns "PCR 11 holds a
// signed value" into the sealed object's policy, and TPM2_Unseal returns the secret. The
// secret crosses the bus encrypted both ways: TPM2_Create is authorised, and TPM2_Unseal
// accompanied, by an HMAC session salted to the SRK with AES-128-CFB parameter encryption
// (TPM 2.0 Part 1, 21). Every object and session is flushed on every path.
//
// machined calls Unseal in its Storage phase, after stage 1 extended leave-initrd and
// before it extends sysinit (its LockState phase, before anything listens on the network);
// ReadPCR gives the PCR 7 value to pass to Seal.
//
// # Threat model
//
// What sealing to a signed PCR 11 buys:
//
//   - A new UKI signed with the same PCR key unseals the same blob: upgrades need no
//     re-enrolment, because the object trusts the key, not one PCR value.
//   - A UKI signed with another key, an unsigned kernel, another command line or initrd
//     (each changes PCR 11, which systemd-stub measures) finds no signed policy for its PCR
//     11 value, or one the TPM refuses to verify, and cannot unseal.
//   - The build signs only the leave-initrd phase. Once machined extends PCR 11 with
//     "sysinit" (right after Storage, or on the way out of a failed boot), no signed
//     policy matches until the next reboot, so nothing that runs later (maintenance mode,
//     services, a compromised API) can unseal.
//   - Binding PCR 7 as well (Policy.PCR7, machined's default) ties the key to the Secure
//     Boot state and keys (db, dbx, KEK, PK): with Secure Boot off, a pre-boot program
//     could otherwise replay the UKI's published PCR 11 measurements and unseal. The price
//     is re-sealing when the keys or dbx change.
//   - The blob on disk is encrypted and integrity-protected by the TPM under the SRK
//     (fixedTPM, fixedParent): copied to another machine it opens nowhere.
//
// What it does not protect against: an attacker who has the PCR private key (they can sign
// any PCR 11 value), one who can run code in the signed initrd before "sysinit" (that is the
// trusted code), physical attacks on the TPM itself, and an active interposer that
// impersonates the SRK (the salt only defeats passive sniffing of the bus).
//
// # The room
//
// This package talks to the TPM and parses the .pcrsig JSON and .pcrpkey PEM that
// systemd-stub hands to the initrd. It does not extend PCRs (initd/pcrphase does), choose
// the disk format or the key's use, read or write files, or touch disks. It must not import
// the builder's uki/ packages; the tests do, to produce genuine signatures.
package tpmseal
