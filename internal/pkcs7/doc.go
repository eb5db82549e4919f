// Package pkcs7 is the DER and the PKCS#7 SignedData (RFC 2315; CMS, RFC 5652, where the
// two agree) that Kiln's two signature formats share: Authenticode in PE images
// (uki/authenticode) and the time-based authenticated variables of Secure Boot key
// enrolment (bootloader/efivar). Each of those owns its profile (what the content is, which
// attributes are required, which wrapping the firmware accepts); this package owns the
// bytes both have in common, so that a fix to the DER or to signer matching is made once.
//
// Supported subset:
//
//   - writing: a DER encoder with a sticky error (Encoder), and SignedData with SHA-256,
//     RSA PKCS#1 v1.5, one SignerInfo identified by issuer and serial number, and the
//     signer's certificate as the only one embedded; nothing in it reads the clock, so the
//     same inputs give the same bytes
//   - reading: ContentInfo and SignedData (version, digestAlgorithms, the encapsulated
//     contentInfo, optional [0] certificates, optional [1] crls, signerInfos), SignerInfo
//     with or without [0] authenticated attributes (ignoring [1] unauthenticated ones)
//   - verifying: SHA-256 with RSA PKCS#1 v1.5 (rsaEncryption or sha256WithRSAEncryption);
//     with authenticated attributes, the contentType and messageDigest attributes are
//     checked and the signature is over their DER SET, as RFC 5652 section 5.4 says
//
// # Threat model
//
// The parsers read untrusted bytes: an upgrade image received over the network, an .auth
// file on an ESP. They use encoding/asn1 (DER only), bound the number of elements and
// certificates they accept, refuse trailing bytes, and return an error, never a panic,
// for any input (a fuzz test checks it). Chain building and trust decisions are the
// callers': a verified SignerInfo proves only that the given certificate's key signed.
//
// The room: a leaf under internal/, standard library only. It reads no files, holds no
// keys (callers pass a crypto.Signer) and imports no builder or node package, so both
// sides can use it.
package pkcs7
