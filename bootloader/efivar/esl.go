package efivar

import (
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/kiln-os/kiln/internal/guid"
)

// ErrSignatureList is returned, wrapped with the offset at fault, for bytes
// that are not a well-formed sequence of EFI_SIGNATURE_LISTs.
var ErrSignatureList = errors.New("efivar: malformed EFI_SIGNATURE_LIST")

// eslHeaderSize is sizeof(EFI_SIGNATURE_LIST) without its variable parts:
// SignatureType, SignatureListSize, SignatureHeaderSize, SignatureSize.
const eslHeaderSize = 16 + 4 + 4 + 4

// SignatureData is one EFI_SIGNATURE_DATA: the owner and the signature
// itself (for EFI_CERT_X509_GUID, a DER certificate).
type SignatureData struct {
	Owner guid.GUID
	Data  []byte
}

// SignatureList is one EFI_SIGNATURE_LIST. Every entry of a list has the same
// size (SignatureSize), so a list holds certificates of one length; a
// variable holds several lists back to back.
type SignatureList struct {
	Type       guid.GUID
	Header     []byte
	Signatures []SignatureData
}

// X509List is the list Kiln writes for PK, KEK and db: one certificate owned by owner.
func X509List(owner guid.GUID, cert *x509.Certificate) SignatureList {
	return SignatureList{Type: CertX509, Signatures: []SignatureData{{Owner: owner, Data: cert.Raw}}}
}

// MarshalBinary serializes the list, little-endian, as the specification
// lays it out. It fails if the entries differ in size or the list is empty.
func (l SignatureList) MarshalBinary() ([]byte, error) {
	if len(l.Signatures) == 0 {
		return nil, fmt.Errorf("%w: no signatures", ErrSignatureList)
	}
	sigSize := 16 + len(l.Signatures[0].Data)
	total := eslHeaderSize + len(l.Header) + len(l.Signatures)*sigSize
	if uint64(total) > 1<<32-1 {
		return nil, fmt.Errorf("%w: %d bytes is too large", ErrSignatureList, total)
	}
	b := make([]byte, 0, total)
	b = l.Type.AppendEFI(b)
	b = binary.LittleEndian.AppendUint32(b, uint32(total))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(l.Header)))
	b = binary.LittleEndian.AppendUint32(b, uint32(sigSize))
	b = append(b, l.Header...)
	for i, s := range l.Signatures {
		if 16+len(s.Data) != sigSize {
			return nil, fmt.Errorf("%w: signature %d is %d bytes, the first is %d", ErrSignatureList, i, len(s.Data), sigSize-16)
		}
		b = s.Owner.AppendEFI(b)
		b = append(b, s.Data...)
	}
	return b, nil
}

// ParseSignatureLists parses the value of a signature database variable
// (PK, KEK, db, an .esl file): zero or more EFI_SIGNATURE_LISTs back to back.
// It checks every size against the bytes present and never panics.
func ParseSignatureLists(b []byte) ([]SignatureList, error) {
	var lists []SignatureList
	for off := 0; off < len(b); {
		l, n, err := parseSignatureList(b[off:])
		if err != nil {
			return nil, fmt.Errorf("list at offset %d: %w", off, err)
		}
		lists = append(lists, l)
		off += n
	}
	return lists, nil
}

// parseSignatureList parses the list at the start of b and returns its size.
func parseSignatureList(b []byte) (SignatureList, int, error) {
	var l SignatureList
	if len(b) < eslHeaderSize {
		return l, 0, fmt.Errorf("%w: %d bytes left, a header needs %d", ErrSignatureList, len(b), eslHeaderSize)
	}
	l.Type = guid.FromEFI(b)
	listSize := uint64(binary.LittleEndian.Uint32(b[16:]))
	headerSize := uint64(binary.LittleEndian.Uint32(b[20:]))
	sigSize := uint64(binary.LittleEndian.Uint32(b[24:]))
	switch {
	case listSize > uint64(len(b)):
		return l, 0, fmt.Errorf("%w: SignatureListSize %d exceeds the %d bytes left", ErrSignatureList, listSize, len(b))
	case listSize < eslHeaderSize+headerSize:
		return l, 0, fmt.Errorf("%w: SignatureListSize %d is smaller than its headers", ErrSignatureList, listSize)
	case sigSize < 16:
		return l, 0, fmt.Errorf("%w: SignatureSize %d is smaller than an owner GUID", ErrSignatureList, sigSize)
	case (listSize-eslHeaderSize-headerSize)%sigSize != 0:
		return l, 0, fmt.Errorf("%w: %d bytes of signatures are not a multiple of SignatureSize %d",
			ErrSignatureList, listSize-eslHeaderSize-headerSize, sigSize)
	}
	l.Header = clone(b[eslHeaderSize : eslHeaderSize+headerSize])
	for off := eslHeaderSize + headerSize; off < listSize; off += sigSize {
		var s SignatureData
		s.Owner = guid.FromEFI(b[off:])
		s.Data = clone(b[off+16 : off+sigSize])
		l.Signatures = append(l.Signatures, s)
	}
	return l, int(listSize), nil
}

// Certificates returns the X.509 certificates of every EFI_CERT_X509_GUID
// list, in order. Lists of other types are skipped.
func Certificates(lists []SignatureList) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for i, l := range lists {
		if l.Type != CertX509 {
			continue
		}
		for j, s := range l.Signatures {
			c, err := x509.ParseCertificate(s.Data)
			if err != nil {
				return nil, fmt.Errorf("list %d signature %d: %w", i, j, err)
			}
			certs = append(certs, c)
		}
	}
	return certs, nil
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }
