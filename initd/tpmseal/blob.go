package tpmseal

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"

	"github.com/google/go-tpm/tpm2"

	"github.com/kiln-os/kiln/measure/pcr"
)

// BlobVersion is the Blob format this package writes and reads.
const BlobVersion = 1

// Limits of ParseBlob. A sealed object's TPM2B_PUBLIC is about 80 bytes and its
// TPM2B_PRIVATE about 200 (with a 128-byte secret); the limits leave room.
const (
	maxBlobJSON    = 8 << 10
	maxTPM2BPublic = 1024
	maxTPM2BPriv   = 1024
)

// Blob is a sealed secret as it is stored: what the TPM needs to load the object again,
// and the policy it was sealed to. It is JSON; []byte fields are base64.
type Blob struct {
	Version      int    `json:"version"`        // BlobVersion
	SRK          string `json:"srk"`            // parent key template: SRKTemplate
	Public       []byte `json:"public"`         // marshalled TPM2B_PUBLIC of the object
	Private      []byte `json:"private"`        // marshalled TPM2B_PRIVATE, encrypted by the TPM
	PCRKeyName   string `json:"pcrKeyName"`     // hex TPM Name of the PCR public key
	PCR7         string `json:"pcr7,omitempty"` // hex SHA-256 PCR 7 value bound, if any
	PolicyDigest string `json:"policyDigest"`   // hex authPolicy of the object
}

// sealed is a checked Blob, decoded for the TPM.
type sealed struct {
	public  tpm2.TPM2BPublic
	private tpm2.TPM2BPrivate
	keyName []byte
	pcr7    []byte // nil when PCR 7 is not bound
	digest  []byte
}

// Marshal returns the JSON of b, after the checks ParseBlob makes, so that nothing is
// stored that could not be read back.
func (b *Blob) Marshal() ([]byte, error) {
	if err := b.check(); err != nil {
		return nil, err
	}
	out, err := json.MarshalIndent(b, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBlob, err)
	}
	return append(out, '\n'), nil
}

// ParseBlob parses a Blob written by Marshal. It is strict: unknown fields, trailing data,
// another version or SRK template, sizes out of bounds, and a policy digest or public area
// that does not follow from the other fields are errors.
func ParseBlob(data []byte) (*Blob, error) {
	if len(data) > maxBlobJSON {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrBlob, len(data), maxBlobJSON)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var b Blob
	if err := dec.Decode(&b); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBlob, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the JSON object", ErrBlob)
	}
	if err := b.check(); err != nil {
		return nil, err
	}
	return &b, nil
}

func (b *Blob) check() error {
	_, err := b.decode()
	return err
}

// decode checks b and decodes its fields.
func (b *Blob) decode() (*sealed, error) {
	if b.Version != BlobVersion {
		return nil, fmt.Errorf("%w: version %d, this machined reads version %d", ErrBlob, b.Version, BlobVersion)
	}
	if b.SRK != SRKTemplate {
		return nil, fmt.Errorf("%w: parent key template %q, want %q", ErrBlob, b.SRK, SRKTemplate)
	}
	s, err := b.decodePolicy()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBlob, err)
	}
	if s.public, err = decodePublic(b.Public, s.digest); err != nil {
		return nil, fmt.Errorf("%w: public: %w", ErrBlob, err)
	}
	if s.private, err = decodePrivate(b.Private); err != nil {
		return nil, fmt.Errorf("%w: private: %w", ErrBlob, err)
	}
	return s, nil
}

// decodePolicy decodes the policy fields and checks that the digest follows from them.
func (b *Blob) decodePolicy() (*sealed, error) {
	keyName, err := decodeHex("pcrKeyName", b.PCRKeyName, 2+pcr.PolicyHash.Size())
	if err != nil {
		return nil, err
	}
	if !bytes.HasPrefix(keyName, []byte{0x00, 0x0B}) { // nameAlg TPM_ALG_SHA256
		return nil, fmt.Errorf("pcrKeyName: %s is not a SHA-256 Name", b.PCRKeyName)
	}
	var pcr7 []byte
	if b.PCR7 != "" {
		if pcr7, err = decodeHex("pcr7", b.PCR7, pcr.PolicyHash.Size()); err != nil {
			return nil, err
		}
	}
	digest, err := decodeHex("policyDigest", b.PolicyDigest, pcr.PolicyHash.Size())
	if err != nil {
		return nil, err
	}
	want, err := policyDigest(keyName, pcr7)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(digest, want) {
		return nil, fmt.Errorf("policyDigest %s does not follow from pcrKeyName and pcr7 (%x)", b.PolicyDigest, want)
	}
	return &sealed{keyName: keyName, pcr7: pcr7, digest: digest}, nil
}

// decodePublic decodes a TPM2B_PUBLIC and checks that it is the sealed object template
// with authPolicy digest: only the unique field (the TPM's hash of the secret) may differ.
func decodePublic(data, digest []byte) (tpm2.TPM2BPublic, error) {
	if len(data) > maxTPM2BPublic {
		return tpm2.TPM2BPublic{}, fmt.Errorf("%d bytes, at most %d", len(data), maxTPM2BPublic)
	}
	public, err := unmarshalExact[tpm2.TPM2BPublic](data)
	if err != nil {
		return tpm2.TPM2BPublic{}, err
	}
	area, err := public.Contents()
	if err != nil {
		return tpm2.TPM2BPublic{}, err
	}
	want := sealedTemplate(digest)
	unique, err := area.Unique.KeyedHash()
	if err != nil || area.Type != tpm2.TPMAlgKeyedHash || len(unique.Buffer) != pcr.PolicyHash.Size() {
		return tpm2.TPM2BPublic{}, fmt.Errorf("not a sealed data object with a SHA-256 unique field")
	}
	want.Unique = area.Unique
	if !bytes.Equal(tpm2.Marshal(*area), tpm2.Marshal(want)) {
		return tpm2.TPM2BPublic{}, fmt.Errorf("attributes, algorithms or authPolicy differ from what Seal creates")
	}
	return *public, nil
}

// decodePrivate decodes a non-empty TPM2B_PRIVATE.
func decodePrivate(data []byte) (tpm2.TPM2BPrivate, error) {
	if len(data) > maxTPM2BPriv {
		return tpm2.TPM2BPrivate{}, fmt.Errorf("%d bytes, at most %d", len(data), maxTPM2BPriv)
	}
	private, err := unmarshalExact[tpm2.TPM2BPrivate](data)
	if err != nil {
		return tpm2.TPM2BPrivate{}, err
	}
	if len(private.Buffer) == 0 {
		return tpm2.TPM2BPrivate{}, fmt.Errorf("empty")
	}
	return *private, nil
}

// unmarshalExact unmarshals a T that must fill data exactly, in canonical form.
func unmarshalExact[T tpm2.Marshallable, P interface {
	*T
	tpm2.Unmarshallable
}](data []byte) (*T, error) {
	v, err := tpm2.Unmarshal[T, P](data)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(tpm2.Marshal(*v), data) {
		return nil, fmt.Errorf("trailing or non-canonical bytes")
	}
	return v, nil
}

func hexString(b []byte) string { return hex.EncodeToString(b) }
