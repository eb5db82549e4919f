package authenticode

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	"github.com/kiln-os/kiln/uki/pe"
)

// Sign returns image with an Authenticode signature made by signer, whose
// public key must be cert's RSA key. An existing signature is replaced. See
// the package doc for what is signed and why the result is reproducible.
func Sign(image []byte, cert *x509.Certificate, signer crypto.Signer) ([]byte, error) {
	if err := checkKey(cert, signer); err != nil {
		return nil, err
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

// checkKey checks that signer holds the RSA key of cert.
func checkKey(cert *x509.Certificate, signer crypto.Signer) error {
	if cert == nil || signer == nil {
		return fmt.Errorf("%w: certificate and signer are required", ErrKey)
	}
	if len(cert.Raw) == 0 || len(cert.RawIssuer) == 0 || cert.SerialNumber == nil {
		return fmt.Errorf("%w: certificate is not a parsed X.509 certificate (use x509.ParseCertificate)", ErrKey)
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return fmt.Errorf("%w: certificate key is %T, want RSA", ErrKey, cert.PublicKey)
	}
	if !pub.Equal(signer.Public()) {
		return fmt.Errorf("%w: signer's public key is not the certificate's (%s)", ErrKey, cert.Subject)
	}
	return nil
}

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
	var e encoder
	indirect := spcIndirectDataContent(&e, digest)
	contentDigest := sha256.Sum256(indirect)
	attrs := signedAttributes(&e, contentDigest[:])
	if e.err != nil {
		return nil, e.err
	}
	sig, err := signAttributes(e.set(attrs...), cert, signer)
	if err != nil {
		return nil, err
	}
	info := encodeSignerInfo(&e, cert, e.context(0, attrs...), sig)
	sd := e.sequence(
		e.marshal(1), // version
		e.set(e.algorithm(oidSHA256)),
		e.sequence(e.marshal(oidSPCIndirectData), e.context(0, e.sequence(indirect))),
		e.context(0, cert.Raw), // certificates [0] IMPLICIT SET OF
		e.set(info),
	)
	ci := e.sequence(e.marshal(oidSignedData), e.context(0, sd))
	return ci, e.err
}

// spcIndirectDataContent returns the contents octets (without the SEQUENCE
// tag and length) of the SpcIndirectDataContent for digest: the messageDigest
// attribute is the hash of exactly these bytes.
func spcIndirectDataContent(e *encoder, digest []byte) []byte {
	file := e.context(0, e.context(2, e.node(asn1.ClassContextSpecific, 0, false, bmpString(obsoleteFile))))
	peImageData := e.sequence(e.marshal(asn1.BitString{}), file)
	data := e.sequence(e.marshal(oidSPCPEImageData), peImageData)
	messageDigest := e.sequence(e.algorithm(oidSHA256), e.marshal(digest))
	return slices.Concat(data, messageDigest)
}

// signedAttributes returns the encoded authenticated attributes, sorted as a
// DER SET OF. There is no signing time, so that signing is reproducible.
func signedAttributes(e *encoder, contentDigest []byte) [][]byte {
	attrs := [][]byte{
		e.attribute(oidContentType, e.marshal(oidSPCIndirectData)),
		e.attribute(oidSPCSpOpusInfo, e.sequence()),
		e.attribute(oidMessageDigest, e.marshal(contentDigest)),
	}
	slices.SortFunc(attrs, bytes.Compare)
	return attrs
}

// signAttributes signs the DER SET of the authenticated attributes and
// checks the signature against cert, so that a misbehaving signer (say an
// HSM that signs with another key or padding) fails here, not at boot.
func signAttributes(attrSet []byte, cert *x509.Certificate, signer crypto.Signer) ([]byte, error) {
	sum := sha256.Sum256(attrSet)
	sig, err := signer.Sign(rand.Reader, sum[:], crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("authenticode: sign: %w", err)
	}
	if err := rsa.VerifyPKCS1v15(cert.PublicKey.(*rsa.PublicKey), crypto.SHA256, sum[:], sig); err != nil {
		return nil, fmt.Errorf("%w: signer's signature does not verify with the certificate (not RSA PKCS#1 v1.5 SHA-256?): %w", ErrKey, err)
	}
	return sig, nil
}

func encodeSignerInfo(e *encoder, cert *x509.Certificate, attrs, sig []byte) []byte {
	return e.sequence(
		e.marshal(1), // version
		e.sequence(cert.RawIssuer, e.marshal(cert.SerialNumber)),
		e.algorithm(oidSHA256),
		attrs,
		e.algorithm(oidRSAEncryption),
		e.marshal(sig),
	)
}
