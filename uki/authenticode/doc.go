// Package authenticode signs and verifies PE images (UKIs, systemd-boot) the
// way UEFI Secure Boot checks them: an Authenticode signature, that is a
// PKCS#7 SignedData (RFC 2315, profiled by Microsoft's "Windows Authenticode
// Portable Executable Signature Format") over the PE image hash, stored in
// the image's attribute certificate table. It is the room for signing only:
// it reads and patches PE headers through uki/pe and never assembles images.
// The Authenticode profile is here; the DER and the generic SignedData it
// shares with bootloader/efivar's .auth files are in internal/pkcs7.
//
// Supported subset:
//
//   - PE32+ x86-64 images, as uki/pe parses them
//   - SHA-256 for the image hash and every digest; RSA PKCS#1 v1.5 keys
//     (rsaEncryption or sha256WithRSAEncryption) for the signature
//   - exactly one signature: one WIN_CERTIFICATE (revision 0x0200, type
//     PKCS_SIGNED_DATA) holding a SignedData with one SignerInfo; no nested
//     signatures, and no timestamps (Sign makes none, Verify ignores
//     unauthenticated attributes)
//
// # Signing
//
// Sign is deterministic: the signed attributes are contentType,
// messageDigest and an empty SpcSpOpusInfo, with no signing time, and RSA
// PKCS#1 v1.5 signatures are a function of key and digest. Signing the same
// image with the same certificate and key twice gives the same bytes. The key
// is a crypto.Signer, so an HSM or KMS can hold it; its output is checked
// against the certificate before it is used. The signer certificate is the
// only certificate embedded.
//
// Sign on an already-signed image replaces the signature: the certificate
// table is cut off and the rest is signed again, so re-signing with the same
// key gives the same bytes as the first signing. The image is padded with
// zeros to a multiple of 8 bytes before it is hashed (the certificate table
// must start 8-byte aligned); that padding is hashed, as verifiers do.
//
// # Verifying
//
// Verify checks the image hash, the messageDigest, the RSA signature over
// the signed attributes and that the signer chains to one of the given
// certificates, like a UEFI db: the signer certificate, or one of the
// certificates the signature carries that issued it, must be one of the
// roots or be signed by one. Validity periods and key usages are not checked,
// as firmware (which has no trusted clock) and sbverify do not check them.
// Signer makes the same checks but the last, and returns the signer certificate
// for a caller that decides trust itself (`kiln pxe serve` compares it with the
// fingerprint in the build's manifest).
//
// # Threat model
//
// Verify and Hash read untrusted images (`kilnctl upgrade` checks a UKI
// received over the network). The PE headers are parsed by uki/pe, which
// bounds-checks every offset; the certificate table must lie after all
// section data and end exactly at the end of the file, with one entry whose
// length fits it; the PKCS#7 blob is parsed with encoding/asn1 (DER) and
// trailing bytes other than zero padding are refused; chain building stops
// after a fixed depth. A malformed input is an error, never a panic, which a
// fuzz test checks.
//
// The image hash follows the Authenticode specification literally: headers
// without the CheckSum field and the certificate table directory entry, then
// each section's raw data in file order, then any data from the sum of the
// hashed byte counts up to the certificate table. This is also what EDK2,
// sbsigntool and osslsigncode compute; for images without gaps between
// sections (all that uki/pe assembles) it is simply "everything but the
// checksum, the directory entry and the certificate table".
package authenticode
