package pcr

import (
	"crypto/rsa"
	"encoding/binary"
	"fmt"
)

// TPM 2.0 Part 2 constants of the public area systemd builds for the PCR key.
const (
	algRSA  uint16 = 0x0001
	algNull uint16 = 0x0010

	attrUserWithAuth uint32 = 1 << 6
	attrDecrypt      uint32 = 1 << 17
	attrSignEncrypt  uint32 = 1 << 18

	maxRSABytes = 512 // TPM2B_PUBLIC_KEY_RSA buffer: 4096-bit keys
)

// RSAPublicArea returns the marshalled TPMT_PUBLIC that systemd v252
// (openssl_pubkey_to_tpm2_pubkey in src/shared/tpm2-util.c) hands to
// TPM2_LoadExternal for the PCR signing key:
//
//	type RSA, nameAlg SHA-256, objectAttributes decrypt|sign|userWithAuth,
//	empty authPolicy, symmetric NULL, scheme NULL, keyBits, exponent,
//	unique = the modulus
//
// The TPM prepends a UINT16 size to make the TPM2B_PUBLIC it takes.
func RSAPublicArea(pub *rsa.PublicKey) ([]byte, error) {
	if pub == nil || pub.N == nil || pub.N.Sign() <= 0 {
		return nil, fmt.Errorf("%w: no RSA modulus", ErrKey)
	}
	modulus := pub.N.Bytes()
	if len(modulus) > maxRSABytes {
		return nil, fmt.Errorf("%w: %d-bit RSA modulus, at most %d bits", ErrKey, pub.N.BitLen(), maxRSABytes*8)
	}
	exponent, err := systemdExponent(pub.E)
	if err != nil {
		return nil, err
	}
	b := binary.BigEndian.AppendUint16(nil, algRSA)
	b = binary.BigEndian.AppendUint16(b, algIDs[PolicyHash]) // nameAlg
	b = binary.BigEndian.AppendUint32(b, attrDecrypt|attrSignEncrypt|attrUserWithAuth)
	b = binary.BigEndian.AppendUint16(b, 0)       // authPolicy: empty TPM2B_DIGEST
	b = binary.BigEndian.AppendUint16(b, algNull) // symmetric: TPMT_SYM_DEF_OBJECT, NULL
	b = binary.BigEndian.AppendUint16(b, algNull) // scheme: TPMT_RSA_SCHEME, NULL
	b = binary.BigEndian.AppendUint16(b, uint16(len(modulus)*8))
	b = binary.BigEndian.AppendUint32(b, exponent)
	b = binary.BigEndian.AppendUint16(b, uint16(len(modulus)))
	return append(b, modulus...), nil
}

// systemdExponent returns the exponent field systemd v252 fills in: it
// writes the big-endian bytes of e (BN_bn2bin) to the start of a
// little-endian UINT32. That is e itself for 65537 (01 00 01) and for 3,
// but not for every e; the TPM then names the key by that field, so it is
// reproduced here rather than "fixed".
func systemdExponent(e int) (uint32, error) {
	if e <= 0 || e > 0xFFFFFFFF {
		return 0, fmt.Errorf("%w: RSA exponent %d", ErrKey, e)
	}
	var be []byte
	for v := uint32(e); v > 0; v >>= 8 {
		be = append([]byte{byte(v)}, be...)
	}
	var field [4]byte
	copy(field[:], be)
	return binary.LittleEndian.Uint32(field[:]), nil
}

// RSAPublicName returns the TPM2 Name of pub as systemd v252 loads it (see
// RSAPublicArea): nameAlg (TPM_ALG_SHA256) || SHA-256(TPMT_PUBLIC). This is
// the keyName of PolicyAuthorizeDigest for Kiln's PCR key.
func RSAPublicName(pub *rsa.PublicKey) ([]byte, error) {
	area, err := RSAPublicArea(pub)
	if err != nil {
		return nil, err
	}
	name := binary.BigEndian.AppendUint16(nil, algIDs[PolicyHash])
	return append(name, digest(PolicyHash, area)...), nil
}
