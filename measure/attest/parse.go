package attest

import (
	"bytes"
	"crypto/ecdsa"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"

	"github.com/google/go-tpm/tpm2"
)

// errNotCanonical says a structure decoded but did not account for every input byte.
var errNotCanonical = errors.New("trailing or non-canonical bytes")

// decode unmarshals a T from data and requires data to be exactly its encoding.
func decode[T tpm2.Marshallable, P interface {
	*T
	tpm2.Unmarshallable
}](data []byte) (v *T, err error) {
	defer func() {
		if r := recover(); r != nil { // go-tpm panics when it cannot re-encode a value
			v, err = nil, fmt.Errorf("undecodable structure: %v", r)
		}
	}()
	v, err = tpm2.Unmarshal[T, P](data)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(tpm2.Marshal(*v), data) {
		return nil, errNotCanonical
	}
	return v, nil
}

// ak is a parsed attestation key.
type ak struct {
	public tpm2.TPMTPublic
	name   []byte // TPM2B_NAME contents: nameAlg || SHA-256(TPMT_PUBLIC)
	key    *ecdsa.PublicKey
}

// parseAKPublic parses a TPMT_PUBLIC and requires it to be made from AKTemplate.
func parseAKPublic(data []byte) (*ak, error) {
	public, err := decode[tpm2.TPMTPublic](data)
	if err != nil {
		return nil, fmt.Errorf("%w: TPMT_PUBLIC: %w", ErrAKPublic, err)
	}
	if err := checkTemplate(public); err != nil {
		return nil, err
	}
	params, _ := public.Parameters.ECCDetail() // checkTemplate made sure it is ECC
	point, _ := public.Unique.ECC()
	key, err := ecdsaKey(params, point)
	if err != nil {
		return nil, err
	}
	name, err := tpm2.ObjectName(public)
	if err != nil {
		return nil, fmt.Errorf("%w: name: %w", ErrAKPublic, err)
	}
	return &ak{public: *public, name: name.Buffer, key: key}, nil
}

// checkTemplate compares every field of public but the key itself with AKTemplate.
func checkTemplate(public *tpm2.TPMTPublic) error {
	want := AKTemplate()
	if public.Type != want.Type {
		return fmt.Errorf("%w: key type %#04x, want ECC (%#04x)", ErrAKPublic, uint16(public.Type), uint16(want.Type))
	}
	if got, want := attributes(public.ObjectAttributes), attributes(want.ObjectAttributes); got != want {
		return fmt.Errorf("%w: object attributes %#08x, want %#08x (fixedTPM, fixedParent, sensitiveDataOrigin, userWithAuth, restricted, sign)", ErrAKPublic, got, want)
	}
	want.Unique = public.Unique
	if !bytes.Equal(tpm2.Marshal(*public), tpm2.Marshal(want)) {
		return fmt.Errorf("%w: name algorithm or parameters differ from the AK template (SHA-256 name, ECC P-256, ECDSA-SHA256, no symmetric or KDF scheme)", ErrAKPublic)
	}
	return nil
}

// attributes returns the TPMA_OBJECT bits of a.
func attributes(a tpm2.TPMAObject) uint32 {
	return binary.BigEndian.Uint32(tpm2.Marshal(a))
}

// ecdsaKey returns the P-256 public key of point, which must lie on the curve.
func ecdsaKey(params *tpm2.TPMSECCParms, point *tpm2.TPMSECCPoint) (*ecdsa.PublicKey, error) {
	key, err := tpm2.ECDSAPub(params, point)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrAKPublic, err)
	}
	if _, err := key.ECDH(); err != nil {
		return nil, fmt.Errorf("%w: public point: %w", ErrAKPublic, err)
	}
	return key, nil
}

// parseSignature parses a TPMT_SIGNATURE and requires ECDSA with SHA-256.
func parseSignature(data []byte) (r, s *big.Int, err error) {
	sig, err := decode[tpm2.TPMTSignature](data)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: TPMT_SIGNATURE: %w", ErrSignature, err)
	}
	ecc, err := sig.Signature.ECDSA()
	if err != nil {
		return nil, nil, fmt.Errorf("%w: scheme %#04x, want ECDSA", ErrSignature, uint16(sig.SigAlg))
	}
	if ecc.Hash != tpm2.TPMAlgSHA256 {
		return nil, nil, fmt.Errorf("%w: hash %#04x, want SHA-256", ErrSignature, uint16(ecc.Hash))
	}
	return new(big.Int).SetBytes(ecc.SignatureR.Buffer), new(big.Int).SetBytes(ecc.SignatureS.Buffer), nil
}

// quote is a parsed TPMS_ATTEST of type TPM_ST_ATTEST_QUOTE.
type quote struct {
	attest *tpm2.TPMSAttest
	info   *tpm2.TPMSQuoteInfo
}

// parseAttest parses a TPMS_ATTEST and requires the TPM_GENERATED magic and a quote.
func parseAttest(data []byte) (*quote, error) {
	attest, err := decode[tpm2.TPMSAttest](data)
	if err != nil {
		return nil, fmt.Errorf("%w: TPMS_ATTEST: %w", ErrAttest, err)
	}
	if attest.Magic != tpm2.TPMGeneratedValue {
		return nil, fmt.Errorf("%w: magic %#08x, want TPM_GENERATED_VALUE %#08x", ErrAttest, uint32(attest.Magic), uint32(tpm2.TPMGeneratedValue))
	}
	info, err := attest.Attested.Quote()
	if err != nil {
		return nil, fmt.Errorf("%w: type %#04x, want TPM_ST_ATTEST_QUOTE %#04x", ErrAttest, uint16(attest.Type), uint16(tpm2.TPMSTAttestQuote))
	}
	return &quote{attest: attest, info: info}, nil
}
