// Package efivar writes and reads UEFI variables for Kiln's Secure Boot:
// the EFI signature lists (ESL) and the time-based authenticated variable
// files (.auth) that systemd-boot 252 enrols from loader/keys/auto/, and, on
// the node, the variables the firmware and systemd-boot publish in efivarfs.
//
// The room: byte formats from the UEFI 2.x specification, section 32 ("Secure
// Boot and Driver Signing"): EFI_SIGNATURE_LIST with EFI_CERT_X509_GUID
// entries, EFI_VARIABLE_AUTHENTICATION_2 (EFI_TIME + WIN_CERTIFICATE_UEFI_GUID
// carrying a PKCS#7 SignedData), and efivarfs files (a 4-byte little-endian
// attribute word, then the value), and the EFI_LOAD_OPTION of a Boot####
// variable (UEFI 2.10 §3.1.3) for the installer. It writes efivarfs only through
// Write, which the installer calls for its boot entry; it never holds or loads
// keys (callers pass a crypto.Signer), never reads the clock, and imports
// nothing from the builder or the node so both can use it.
//
// Supported subset:
//
//   - signature lists: any type is parsed; X509List builds the one Kiln
//     writes (EFI_CERT_X509_GUID, no header, one EFI_SIGNATURE_DATA)
//   - authenticated variables: time-based only (EFI_VARIABLE_AUTHENTICATION_2),
//     RSA PKCS#1 v1.5 with SHA-256, no signed attributes, the signer's
//     certificate embedded, content detached
//
// # The PKCS#7 in the descriptor
//
// AuthVariable writes the bare SignedData, without the outer ContentInfo, as
// the specification's text ("a DER-encoded PKCS #7 version 1.5 SignedData")
// and efitools' sign-efi-sig-list do. It is also the only form the firmware
// Kiln boots accepts: EDK2 up to at least edk2-stable202211 (Debian 12's OVMF
// 2022.11) rejects an authenticated write unless the SignedData's second byte
// is 0x82 (a two-byte length) and the SHA-256 OID sits at offset 13, which
// holds only without the ContentInfo wrapper; later EDK2 also looks at offset
// 32, the wrapped form. Checked on that OVMF: with the wrapper, systemd-boot's
// enrolment fails with "Failed to write PK secure boot variable: Security
// Policy Violation"; without it, bootloader's TestOracleOVMFEnrolment enrols
// and boots. The parsers here accept both forms. The SignedData itself is
// built and parsed by internal/pkcs7, which uki/authenticode shares.
//
// Output is deterministic: the same inputs and key give the same bytes
// (PKCS#1 v1.5 signatures are deterministic; there is no signing-time
// attribute and the timestamp is an input, normally SOURCE_DATE_EPOCH).
package efivar
