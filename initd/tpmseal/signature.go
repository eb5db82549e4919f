package tpmseal

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"slices"

	"github.com/kiln-os/kiln/measure/pcr"
)

// Limits of what ParseSignature accepts. The build writes 4 banks × 3 phases of about
// 700 bytes each; the limits leave room and still stop a hostile file early.
const (
	maxSignatureJSON  = 64 << 10
	maxPoliciesByBank = 64
	maxRSASignature   = 512 // 4096-bit keys, the largest pcr.RSAPublicArea takes
)

// knownBanks are the .pcrsig keys systemd-measure 252 writes.
var knownBanks = []string{"sha1", "sha256", "sha384", "sha512"}

// SignedPolicy is one entry of a .pcrsig bank: a TPM2_PolicyPCR digest the PCR key signed.
type SignedPolicy struct {
	PCRs           []int  // the PCRs the policy covers ("pcrs")
	KeyFingerprint []byte // SHA-256 of the key's PKCS#1 RSAPublicKey DER ("pkfp")
	Policy         []byte // the PolicyPCR digest, SHA-256 ("pol")
	Signature      []byte // RSA PKCS#1 v1.5 over the bank's hash of Policy ("sig")
}

// Signature is a parsed .pcrsig: the signed policies by bank name ("sha256", ...).
type Signature map[string][]SignedPolicy

// signedPolicyJSON is an entry as systemd-measure 252 writes it.
type signedPolicyJSON struct {
	PCRs []int  `json:"pcrs"`
	PKFP string `json:"pkfp"`
	Pol  string `json:"pol"`
	Sig  string `json:"sig"`
}

// ParseSignature parses the .pcrsig JSON systemd-stub hands to the initrd as
// /.extra/tpm2-pcr-signature.json: an object of banks, each a list of signed policies.
// It is strict: unknown banks or fields, duplicate banks, upper-case or odd hex, values of
// the wrong size and trailing data are errors.
func ParseSignature(data []byte) (Signature, error) {
	if len(data) > maxSignatureJSON {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrSignature, len(data), maxSignatureJSON)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := expectDelim(dec, '{'); err != nil {
		return nil, err
	}
	sig := Signature{}
	for dec.More() {
		bank, entries, err := decodeBank(dec, sig)
		if err != nil {
			return nil, err
		}
		sig[bank] = entries
	}
	if err := expectDelim(dec, '}'); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the JSON object", ErrSignature)
	}
	return sig, nil
}

// decodeBank reads one "bank": [entries] member of the object.
func decodeBank(dec *json.Decoder, seen Signature) (string, []SignedPolicy, error) {
	token, err := dec.Token()
	if err != nil {
		return "", nil, fmt.Errorf("%w: %w", ErrSignature, err)
	}
	bank, _ := token.(string)
	if !slices.Contains(knownBanks, bank) {
		return "", nil, fmt.Errorf("%w: unknown bank %q (want one of %q)", ErrSignature, bank, knownBanks)
	}
	if _, dup := seen[bank]; dup {
		return "", nil, fmt.Errorf("%w: bank %q twice", ErrSignature, bank)
	}
	var raw []signedPolicyJSON
	if err := dec.Decode(&raw); err != nil {
		return "", nil, fmt.Errorf("%w: bank %s: %w", ErrSignature, bank, err)
	}
	if len(raw) > maxPoliciesByBank {
		return "", nil, fmt.Errorf("%w: bank %s: %d policies, at most %d", ErrSignature, bank, len(raw), maxPoliciesByBank)
	}
	entries := make([]SignedPolicy, 0, len(raw))
	for i, r := range raw {
		entry, err := r.parse()
		if err != nil {
			return "", nil, fmt.Errorf("%w: bank %s entry %d: %w", ErrSignature, bank, i, err)
		}
		entries = append(entries, entry)
	}
	return bank, entries, nil
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	token, err := dec.Token()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrSignature, err)
	}
	if token != want {
		return fmt.Errorf("%w: found %v where %q belongs", ErrSignature, token, want)
	}
	return nil
}

// parse checks the fields of one entry and decodes them.
func (r signedPolicyJSON) parse() (SignedPolicy, error) {
	if err := checkPCRList(r.PCRs); err != nil {
		return SignedPolicy{}, err
	}
	fingerprint, err := decodeHex("pkfp", r.PKFP, sha256.Size)
	if err != nil {
		return SignedPolicy{}, err
	}
	policy, err := decodeHex("pol", r.Pol, pcr.PolicyHash.Size())
	if err != nil {
		return SignedPolicy{}, err
	}
	sig, err := base64.StdEncoding.Strict().DecodeString(r.Sig)
	if err != nil || len(sig) == 0 || len(sig) > maxRSASignature {
		return SignedPolicy{}, fmt.Errorf("sig: want 1 to %d bytes of base64, have %q", maxRSASignature, truncate(r.Sig))
	}
	return SignedPolicy{PCRs: r.PCRs, KeyFingerprint: fingerprint, Policy: policy, Signature: sig}, nil
}

// checkPCRList accepts a non-empty list of distinct PCR indexes.
func checkPCRList(pcrs []int) error {
	if len(pcrs) == 0 || len(pcrs) > pcr.MaxIndex+1 {
		return fmt.Errorf("pcrs: want 1 to %d PCRs, have %d", pcr.MaxIndex+1, len(pcrs))
	}
	for i, n := range pcrs {
		if n < 0 || n > pcr.MaxIndex || slices.Contains(pcrs[:i], n) {
			return fmt.Errorf("pcrs: %v is not a list of distinct PCRs 0 to %d", pcrs, pcr.MaxIndex)
		}
	}
	return nil
}

// decodeHex decodes field value s, which must be lower-case hex of size bytes.
func decodeHex(field, s string, size int) ([]byte, error) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != size || hex.EncodeToString(b) != s {
		return nil, fmt.Errorf("%s: want %d bytes of lower-case hex, have %q", field, size, truncate(s))
	}
	return b, nil
}

// truncate shortens untrusted text quoted in an error.
func truncate(s string) string {
	const max = 80
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}

// find returns the sha256 entry for PCR 11 alone that key fingerprint signed for policy.
func (s Signature) find(fingerprint, policy []byte) (SignedPolicy, bool) {
	for _, entry := range s["sha256"] {
		if slices.Equal(entry.PCRs, []int{PCR}) && bytes.Equal(entry.KeyFingerprint, fingerprint) && bytes.Equal(entry.Policy, policy) {
			return entry, true
		}
	}
	return SignedPolicy{}, false
}

// policies lists the sha256 policies for PCR 11 alone signed by fingerprint, for errors.
func (s Signature) policies(fingerprint []byte) [][]byte {
	var out [][]byte
	for _, entry := range s["sha256"] {
		if slices.Equal(entry.PCRs, []int{PCR}) && bytes.Equal(entry.KeyFingerprint, fingerprint) {
			out = append(out, entry.Policy)
		}
	}
	return out
}
