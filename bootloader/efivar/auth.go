package efivar

import (
	"crypto"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
	"unicode/utf16"

	"github.com/kiln-os/kiln/internal/guid"
)

// Variable attributes (UEFI 2.x, GetVariable/SetVariable).
const (
	AttrNonVolatile                       uint32 = 0x01
	AttrBootServiceAccess                 uint32 = 0x02
	AttrRuntimeAccess                     uint32 = 0x04
	AttrTimeBasedAuthenticatedWriteAccess uint32 = 0x20
	AttrAppendWrite                       uint32 = 0x40

	// AttrsSecureBoot is what PK, KEK and db are written with, by Kiln's
	// .auth files and by systemd-boot's enrolment: NV|BS|RT|TIME_BASED_AUTH (0x27).
	AttrsSecureBoot = AttrNonVolatile | AttrBootServiceAccess | AttrRuntimeAccess | AttrTimeBasedAuthenticatedWriteAccess
)

// ErrAuth is returned, wrapped with the reason, for bytes that are not an
// EFI_VARIABLE_AUTHENTICATION_2 followed by a payload.
var ErrAuth = errors.New("efivar: malformed EFI_VARIABLE_AUTHENTICATION_2")

const (
	winCertRevision  = 0x0200 // WIN_CERT_REVISION_2_0
	winCertTypeGUID  = 0x0EF1 // WIN_CERT_TYPE_EFI_GUID
	winCertGUIDHdrSz = 4 + 2 + 2 + 16
	auth2HeaderSize  = efiTimeSize + winCertGUIDHdrSz
)

// AuthVariable returns the contents of an .auth file: an
// EFI_VARIABLE_AUTHENTICATION_2 descriptor signed by signerCert/signer over
// SigningInput(name, vendor, attrs, timestamp, payload), followed by payload.
// It is what SetVariable takes for a time-based authenticated write, and what
// systemd-boot 252 reads from loader/keys/auto/{PK,KEK,db}.auth.
//
// For Secure Boot enrolment attrs is AttrsSecureBoot, PK is signed by PK,
// KEK by PK and db by KEK. timestamp is whole seconds in UTC, normally
// SOURCE_DATE_EPOCH; the result depends on nothing else.
func AuthVariable(name string, vendor guid.GUID, attrs uint32, timestamp time.Time, payload []byte,
	signerCert *x509.Certificate, signer crypto.Signer) ([]byte, error) {
	ts, err := encodeTime(timestamp)
	if err != nil {
		return nil, err
	}
	input, err := signingInput(name, vendor, attrs, ts, payload)
	if err != nil {
		return nil, err
	}
	p7, err := signDetached(input, signerCert, signer)
	if err != nil {
		return nil, fmt.Errorf("%s.auth: %w", name, err)
	}
	out := make([]byte, 0, auth2HeaderSize+len(p7)+len(payload))
	out = append(out, ts[:]...)
	out = binary.LittleEndian.AppendUint32(out, uint32(winCertGUIDHdrSz+len(p7)))
	out = binary.LittleEndian.AppendUint16(out, winCertRevision)
	out = binary.LittleEndian.AppendUint16(out, winCertTypeGUID)
	out = CertTypePKCS7.AppendEFI(out)
	out = append(out, p7...)
	return append(out, payload...), nil
}

// SigningInput returns the bytes an authenticated write is signed over:
// VariableName (UTF-16LE, no terminating NUL) || VendorGuid || Attributes
// (UINT32 LE) || TimeStamp (EFI_TIME) || Data.
func SigningInput(name string, vendor guid.GUID, attrs uint32, timestamp time.Time, payload []byte) ([]byte, error) {
	ts, err := encodeTime(timestamp)
	if err != nil {
		return nil, err
	}
	return signingInput(name, vendor, attrs, ts, payload)
}

func signingInput(name string, vendor guid.GUID, attrs uint32, ts [efiTimeSize]byte, payload []byte) ([]byte, error) {
	name16, err := utf16Name(name)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, len(name16)+16+4+efiTimeSize+len(payload))
	b = append(b, name16...)
	b = vendor.AppendEFI(b)
	b = binary.LittleEndian.AppendUint32(b, attrs)
	b = append(b, ts[:]...)
	return append(b, payload...), nil
}

// utf16Name encodes a variable name as UTF-16LE without the NUL.
func utf16Name(name string) ([]byte, error) {
	if name == "" {
		return nil, fmt.Errorf("efivar: empty variable name")
	}
	var b []byte
	for _, u := range utf16.Encode([]rune(name)) {
		if u == 0 {
			return nil, fmt.Errorf("efivar: variable name %q contains NUL", name)
		}
		b = binary.LittleEndian.AppendUint16(b, u)
	}
	return b, nil
}

// Auth is a parsed .auth file.
type Auth struct {
	Timestamp time.Time
	PKCS7     []byte // the SignedData as found (Kiln writes it without ContentInfo)
	Payload   []byte // the new value, e.g. an EFI_SIGNATURE_LIST
	rawTime   []byte
}

// ParseAuth splits an .auth file into its descriptor and payload, checking
// every length, the certificate type and the timestamp's zero fields.
func ParseAuth(b []byte) (*Auth, error) {
	if len(b) < auth2HeaderSize {
		return nil, fmt.Errorf("%w: %d bytes, the header alone is %d", ErrAuth, len(b), auth2HeaderSize)
	}
	ts, err := decodeTime(b[:efiTimeSize])
	if err != nil {
		return nil, err
	}
	hdr := b[efiTimeSize:]
	length := uint64(binary.LittleEndian.Uint32(hdr))
	switch {
	case binary.LittleEndian.Uint16(hdr[4:]) != winCertRevision:
		return nil, fmt.Errorf("%w: wRevision %#04x, want 0x0200", ErrAuth, binary.LittleEndian.Uint16(hdr[4:]))
	case binary.LittleEndian.Uint16(hdr[6:]) != winCertTypeGUID:
		return nil, fmt.Errorf("%w: wCertificateType %#04x, want WIN_CERT_TYPE_EFI_GUID", ErrAuth, binary.LittleEndian.Uint16(hdr[6:]))
	case guid.FromEFI(hdr[8:]) != CertTypePKCS7:
		return nil, fmt.Errorf("%w: CertType %v, want EFI_CERT_TYPE_PKCS7_GUID", ErrAuth, guid.FromEFI(hdr[8:]))
	case length < winCertGUIDHdrSz || length > uint64(len(hdr)):
		return nil, fmt.Errorf("%w: dwLength %d does not fit %d bytes", ErrAuth, length, len(hdr))
	}
	return &Auth{
		Timestamp: ts,
		PKCS7:     clone(hdr[winCertGUIDHdrSz:length]),
		Payload:   clone(hdr[length:]),
		rawTime:   clone(b[:efiTimeSize]),
	}, nil
}

// VerifyAuth checks that auth, written to the variable name/vendor with
// attrs, is signed by cert: what firmware checks, with cert as the key it
// trusts (PK for PK and KEK, KEK for db).
func VerifyAuth(name string, vendor guid.GUID, attrs uint32, auth []byte, cert *x509.Certificate) error {
	a, err := ParseAuth(auth)
	if err != nil {
		return err
	}
	input, err := signingInput(name, vendor, attrs, [efiTimeSize]byte(a.rawTime), a.Payload)
	if err != nil {
		return err
	}
	if err := verifyDetached(a.PKCS7, input, cert); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}
