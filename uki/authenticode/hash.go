package authenticode

import (
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/kiln-os/kiln/uki/pe"
)

// Errors returned by this package, wrapped with the detail at fault.
var (
	ErrFormat      = errors.New("authenticode: malformed signature or certificate table")
	ErrUnsupported = errors.New("authenticode: unsupported signature (only one SHA-256 RSA signature)")
	ErrNotSigned   = errors.New("authenticode: image is not signed")
	ErrDigest      = errors.New("authenticode: image does not match its signature (modified after signing)")
	ErrSignature   = errors.New("authenticode: invalid signature")
	ErrUntrusted   = errors.New("authenticode: signer is not trusted")
	ErrKey         = errors.New("authenticode: unusable signing key or certificate")
)

// Layout of a WIN_CERTIFICATE.
const (
	winCertHeaderLen          = 8
	winCertRevision           = 0x0200
	winCertTypePKCSSignedData = 0x0002
	certTableAlign            = 8
)

// certTable is where the attribute certificate table is in the file.
type certTable struct {
	start, size int
}

// Hash returns the SHA-256 Authenticode image hash of a PE image, signed or
// not: the digest that a signature of the image signs. (Sign first pads an
// unsigned image to a multiple of 8 bytes, so what it signs is the Hash of
// the padded image.)
func Hash(image []byte) ([]byte, error) {
	f, err := pe.Parse(image)
	if err != nil {
		return nil, err
	}
	ct, err := locateCertTable(f, image)
	if err != nil {
		return nil, err
	}
	return imageHash(f, image, ct), nil
}

// locateCertTable returns the certificate table of f, or an empty one at the
// end of the file if f is not signed. A table must follow all section data
// and end at the end of the file.
func locateCertTable(f *pe.File, image []byte) (certTable, error) {
	if len(f.DataDirectory) <= pe.DirSecurity {
		return certTable{}, fmt.Errorf("%w: image has no certificate table directory entry", ErrUnsupported)
	}
	dir := f.DataDirectory[pe.DirSecurity]
	if dir == (pe.DataDirectory{}) {
		return certTable{start: len(image)}, nil
	}
	start, end := uint64(dir.VirtualAddress), uint64(dir.VirtualAddress)+uint64(dir.Size)
	switch {
	case dir.Size < winCertHeaderLen || start%certTableAlign != 0:
		return certTable{}, fmt.Errorf("%w: table at %#x of %d bytes", ErrFormat, start, dir.Size)
	case start < uint64(f.RawEnd()) || end != uint64(len(image)):
		return certTable{}, fmt.Errorf("%w: table %#x..%#x is not between the last section (ends %#x) and the end of the file (%#x)",
			ErrFormat, start, end, f.RawEnd(), len(image))
	}
	return certTable{start: int(start), size: int(dir.Size)}, nil
}

// imageHash computes the Authenticode hash of image, whose certificate
// table is ct.
func imageHash(f *pe.File, image []byte, ct certTable) []byte {
	dirOff, _ := f.DataDirectoryOffset(pe.DirSecurity) // locateCertTable checked it exists
	checksumOff := f.CheckSumOffset()
	headerEnd := int(f.OptionalHeader.SizeOfHeaders)
	// pe.Parse guarantees checksumOff+4 <= dirOff, dirOff+8 <= headerEnd <= len(image).
	h := sha256.New()
	h.Write(image[:checksumOff])
	h.Write(image[checksumOff+4 : dirOff])
	h.Write(image[dirOff+8 : headerEnd])
	hashed := headerEnd
	for _, s := range f.SectionsByOffset() {
		start, end := int(s.PointerToRawData), int(s.PointerToRawData)+int(s.SizeOfRawData)
		h.Write(image[start:end]) // locateCertTable checked end <= ct.start
		hashed += int(s.SizeOfRawData)
	}
	if ct.start > hashed {
		h.Write(image[hashed:ct.start])
	}
	return h.Sum(nil)
}
