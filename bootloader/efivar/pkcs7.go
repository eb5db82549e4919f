package efivar

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/kiln-os/kiln/internal/pkcs7"
)

// ErrPKCS7 is returned for a PKCS#7 SignedData this package cannot build or parse.
var ErrPKCS7 = errors.New("efivar: PKCS#7")

// ErrSignature is returned when a signature does not verify.
var ErrSignature = errors.New("efivar: signature does not verify")

// signDetached returns the DER of a PKCS#7 SignedData (without a ContentInfo
// wrapper, see the package doc) over content: SHA-256, RSA PKCS#1 v1.5, no signed
// attributes, content detached, cert embedded. The same inputs give the same bytes.
func signDetached(content []byte, cert *x509.Certificate, signer crypto.Signer) ([]byte, error) {
	if err := pkcs7.CheckSigner(cert, signer); err != nil {
		return nil, pkcs7Error(err)
	}
	sig, err := pkcs7.SignSHA256(cert, signer, content)
	if err != nil {
		return nil, pkcs7Error(err)
	}
	var e pkcs7.Encoder
	sd := e.SignedData(e.ContentInfo(pkcs7.OIDData, nil), cert, e.SignerInfo(cert, nil, sig))
	if e.Err != nil {
		return nil, pkcs7Error(e.Err)
	}
	return sd, nil
}

// verifyDetached checks that p7 (SignedData, wrapped or not) carries a
// signature by cert over content, without signed attributes.
func verifyDetached(p7, content []byte, cert *x509.Certificate) error {
	sd, err := pkcs7.Parse(p7)
	if err != nil {
		return pkcs7Error(err)
	}
	si, ok := sd.SignerFor(cert)
	if !ok {
		return fmt.Errorf("%w: no signer is %q (serial %x)", ErrSignature, cert.Subject.CommonName, cert.SerialNumber)
	}
	if len(si.Attributes.FullBytes) != 0 {
		return fmt.Errorf("%w: signed attributes are not supported", ErrPKCS7)
	}
	return pkcs7Error(si.Verify(cert, pkcs7.OIDData, content))
}

// pkcs7Error puts an error of internal/pkcs7 under this package's sentinels, so that
// callers check efivar's errors only; other errors (a failing signer) pass as they are.
func pkcs7Error(err error) error {
	switch {
	case errors.Is(err, pkcs7.ErrSignature):
		return fmt.Errorf("%w: %w", ErrSignature, err)
	case errors.Is(err, pkcs7.ErrKey), errors.Is(err, pkcs7.ErrFormat), errors.Is(err, pkcs7.ErrUnsupported):
		return fmt.Errorf("%w: %w", ErrPKCS7, err)
	}
	return err
}
