package authenticode

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	"github.com/kiln-os/kiln/internal/pkcs7"
	"github.com/kiln-os/kiln/uki/pe"
)

// Sign returns image with an Authenticode signature made by signer, whose
// public key must be cert's RSA key. An existing signature is replaced. See
// the package doc for what is signed and why the result is reproducible.
func Sign(image []byte, cert *x509.Certificate, signer crypto.Signer) ([]byte, error) {
	if err := pkcs7.CheckSigner(cert, signer); err != nil {
		return nil, pkcs7Error(err)
	}
	unsigned, err := unsignedImage(image)
	if err != nil {
		return nil, err
	}
	digest, err := Hash(unsigned)
	if err != nil {
		return nil, err
	}
	blob, err := signedData(digest, cert, signer)
	if err != nil {
		return nil, err
	}
	return appendSignature(unsigned, blob)
}

// signatureRoom is enough for a WIN_CERTIFICATE with a 4096-bit RSA
// signature and a certificate of a few kilobytes.
const signatureRoom = 16 << 10

// unsignedImage returns a copy of image without its certificate table, with
// the directory entry cleared and zero padding to a multiple of 8 bytes.
func unsignedImage(image []byte) ([]byte, error) {
	f, err := pe.Parse(image)
	if err != nil {
		return nil, err
	}
	ct, err := locateCertTable(f, image)
	if err != nil {
		return nil, err
	}
	padded := (ct.start + certTableAlign - 1) / certTableAlign * certTableAlign
	out := make([]byte, padded, padded+signatureRoom) // room to append the signature without a copy
	copy(out, image[:ct.start])
	setCertTable(f, out, 0, 0)
	return out, nil
}

// setCertTable writes the certificate table directory entry of out, an
// image whose headers f describes.
func setCertTable(f *pe.File, out []byte, start, size uint32) {
	off, _ := f.DataDirectoryOffset(pe.DirSecurity) // locateCertTable checked it exists
	binary.LittleEndian.PutUint32(out[off:], start)
	binary.LittleEndian.PutUint32(out[off+4:], size)
}

// appendSignature appends blob as the one WIN_CERTIFICATE of unsigned (a
// length that is a multiple of 8), points the directory entry at it and
// updates the checksum.
func appendSignature(unsigned, blob []byte) ([]byte, error) {
	f, err := pe.Parse(unsigned)
	if err != nil {
		return nil, err
	}
	entry := winCertificate(blob)
	if uint64(len(unsigned))+uint64(len(entry)) > math.MaxUint32 {
		return nil, fmt.Errorf("%w: signed image would exceed 4 GiB", ErrUnsupported)
	}
	out := append(unsigned, entry...)
	setCertTable(f, out, uint32(len(unsigned)), uint32(len(entry)))
	pe.UpdateChecksum(out, f.CheckSumOffset())
	return out, nil
}

// winCertificate wraps a PKCS#7 blob in a WIN_CERTIFICATE, padded with
// zeros to a multiple of 8 bytes. dwLength leaves the padding out and the
// directory entry's Size counts it, as sbsign does (EDK2 accepts both).
func winCertificate(blob []byte) []byte {
	length := winCertHeaderLen + len(blob)
	entry := make([]byte, (length+certTableAlign-1)/certTableAlign*certTableAlign)
	binary.LittleEndian.PutUint32(entry[0:], uint32(length))
	binary.LittleEndian.PutUint16(entry[4:], winCertRevision)
	binary.LittleEndian.PutUint16(entry[6:], winCertTypePKCSSignedData)
	copy(entry[winCertHeaderLen:], blob)
	return entry
}

// signedData returns the DER ContentInfo of a SignedData over the image
// hash digest.
func signedData(digest []byte, cert *x509.Certificate, signer crypto.Signer) ([]byte, error) {
	var e pkcs7.Encoder
	indirect := spcIndirectDataContent(&e, digest)
	contentDigest := sha256.Sum256(indirect)
	attrs := signedAttributes(&e, contentDigest[:])
	if e.Err != nil {
		return nil, e.Err
	}
	sig, err := pkcs7.SignSHA256(cert, signer, e.Set(attrs...))
	if err != nil {
		return nil, pkcs7Error(err)
	}
	info := e.SignerInfo(cert, e.Context(0, attrs...), sig)
	content := e.ContentInfo(oidSPCIndirectData, e.Sequence(indirect))
	sd := e.SignedData(content, cert, info)
	return e.ContentInfo(pkcs7.OIDSignedData, sd), e.Err
}

// spcIndirectDataContent returns the contents octets (without the SEQUENCE
// tag and length) of the SpcIndirectDataContent for digest: the messageDigest
// attribute is the hash of exactly these bytes.
func spcIndirectDataContent(e *pkcs7.Encoder, digest []byte) []byte {
	file := e.Context(0, e.Context(2, e.Node(asn1.ClassContextSpecific, 0, false, bmpString(obsoleteFile))))
	peImageData := e.Sequence(e.Marshal(asn1.BitString{}), file)
	data := e.Sequence(e.Marshal(oidSPCPEImageData), peImageData)
	messageDigest := e.Sequence(e.Algorithm(pkcs7.OIDSHA256), e.Marshal(digest))
	return slices.Concat(data, messageDigest)
}

// signedAttributes returns the encoded authenticated attributes, sorted as a
// DER SET OF. There is no signing time, so that signing is reproducible.
func signedAttributes(e *pkcs7.Encoder, contentDigest []byte) [][]byte {
	attrs := [][]byte{
		e.Attribute(pkcs7.OIDContentType, e.Marshal(oidSPCIndirectData)),
		e.Attribute(oidSPCSpOpusInfo, e.Sequence()),
		e.Attribute(pkcs7.OIDMessageDigest, e.Marshal(contentDigest)),
	}
	slices.SortFunc(attrs, bytes.Compare)
	return attrs
}
