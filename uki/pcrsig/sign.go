package pcrsig

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"slices"
	"strings"

	"github.com/kiln-os/kiln/measure/pcr"
)

// bankNames are the JSON keys of .pcrsig, as systemd names the banks.
var bankNames = map[crypto.Hash]string{
	crypto.SHA1:   "sha1",
	crypto.SHA256: "sha256",
	crypto.SHA384: "sha384",
	crypto.SHA512: "sha512",
}

// entry is one signed policy of a bank, fields in systemd's order.
type entry struct {
	PCRs []int  `json:"pcrs"` // the PCRs of the policy: [11]
	PKFP string `json:"pkfp"` // hex SHA-256 of the PKCS#1 DER RSAPublicKey
	Pol  string `json:"pol"`  // hex TPM2_PolicyPCR digest that was signed
	Sig  string `json:"sig"`  // base64 RSA PKCS#1 v1.5 signature
}

// Sign returns the .pcrsig section for predictions: for each bank, and for
// each of phases (PhaseUKI or one of pcr.Phases) in the order of their systemd
// phase expressions, the PolicyPCR digest of PCR 11 holding the predicted
// value, signed by pcrKey. The bytes are those `systemd-measure sign
// --json=short` prints, trailing newline included: banks in name order,
// entries without a phase field (the TPM finds the entry by its policy).
func Sign(predictions Predictions, pcrKey crypto.Signer, phases []string) ([]byte, error) {
	pub, fingerprint, err := rsaPublic(pcrKey)
	if err != nil {
		return nil, err
	}
	phases, err = sortPhases(phases)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	out.WriteByte('{')
	for n, bank := range sortedBanks(predictions) {
		entries, err := signBank(bank, predictions[bank], phases, pcrKey, pub, fingerprint)
		if err != nil {
			return nil, err
		}
		list, err := json.Marshal(entries)
		if err != nil {
			return nil, fmt.Errorf("pcrsig: encode %s: %w", bankNames[bank], err)
		}
		if n > 0 {
			out.WriteByte(',')
		}
		fmt.Fprintf(&out, "%q:%s", bankNames[bank], list)
	}
	out.WriteString("}\n")
	return out.Bytes(), nil
}

// signBank signs the policy of each phase for one bank.
func signBank(bank crypto.Hash, values map[string][]byte, phases []string, key crypto.Signer, pub *rsa.PublicKey, fingerprint []byte) ([]entry, error) {
	entries := make([]entry, 0, len(phases))
	for _, phase := range phases {
		value, ok := values[phase]
		if !ok {
			return nil, fmt.Errorf("%w: no %s prediction for phase %q", ErrPhase, bankNames[bank], phase)
		}
		policy, err := pcr.PolicyPCRDigest(bank, []int{PCR}, [][]byte{value})
		if err != nil {
			return nil, fmt.Errorf("pcrsig: %s phase %q: %w", bankNames[bank], phase, err)
		}
		sig, err := signPolicy(key, pub, bank, policy)
		if err != nil {
			return nil, err
		}
		entries = append(entries, entry{
			PCRs: []int{PCR},
			PKFP: hex.EncodeToString(fingerprint),
			Pol:  hex.EncodeToString(policy),
			Sig:  base64.StdEncoding.EncodeToString(sig),
		})
	}
	return entries, nil
}

// signPolicy signs policy as systemd-measure 252 does: EVP_DigestSign with
// the bank's hash, so RSA PKCS#1 v1.5 over H_bank(policy). The signature is
// checked before it is returned, since the signer may be remote.
func signPolicy(key crypto.Signer, pub *rsa.PublicKey, bank crypto.Hash, policy []byte) ([]byte, error) {
	h := bank.New()
	h.Write(policy)
	digest := h.Sum(nil)
	sig, err := key.Sign(rand.Reader, digest, bank)
	if err != nil {
		return nil, fmt.Errorf("pcrsig: sign %s policy: %w", bankNames[bank], err)
	}
	if err := rsa.VerifyPKCS1v15(pub, bank, digest, sig); err != nil {
		return nil, fmt.Errorf("pcrsig: PCR key made a bad %s signature (not RSA PKCS#1 v1.5?): %w", bankNames[bank], err)
	}
	return sig, nil
}

// rsaPublic returns the RSA public key of key and its fingerprint as
// systemd computes it (pkfp).
func rsaPublic(key crypto.Signer) (*rsa.PublicKey, []byte, error) {
	if key == nil {
		return nil, nil, fmt.Errorf("%w: no key", ErrKey)
	}
	pub, ok := key.Public().(*rsa.PublicKey)
	if !ok {
		return nil, nil, fmt.Errorf("%w: %T (systemd's PolicyAuthorize needs RSA)", ErrKey, key.Public())
	}
	// systemd's pubkey_fingerprint hashes i2d_PublicKey, which for RSA is
	// the PKCS#1 RSAPublicKey, not the SubjectPublicKeyInfo of the PEM.
	fingerprint := sha256.Sum256(x509.MarshalPKCS1PublicKey(pub))
	return pub, fingerprint[:], nil
}

// sortPhases checks phases and orders them as systemd-measure does: sorted
// and deduplicated by phase expression.
func sortPhases(phases []string) ([]string, error) {
	if len(phases) == 0 {
		return nil, fmt.Errorf("%w: no phase to sign", ErrPhase)
	}
	for _, p := range phases {
		if p != PhaseUKI && PhasePath(p) == "" {
			return nil, fmt.Errorf("%w: %q (want %q or one of %q)", ErrPhase, p, PhaseUKI, pcr.Phases())
		}
	}
	sorted := slices.Clone(phases)
	slices.SortFunc(sorted, func(a, b string) int { return strings.Compare(PhasePath(a), PhasePath(b)) })
	return slices.Compact(sorted), nil
}

// sortedBanks returns the banks of predictions in the order of their names.
func sortedBanks(predictions Predictions) []crypto.Hash {
	banks := make([]crypto.Hash, 0, len(predictions))
	for bank := range predictions {
		banks = append(banks, bank)
	}
	slices.SortFunc(banks, func(a, b crypto.Hash) int { return strings.Compare(bankNames[a], bankNames[b]) })
	return banks
}

// PublicKeyPEM returns the .pcrpkey section for pcrKey: its public key as a
// PEM "PUBLIC KEY" block (DER SubjectPublicKeyInfo), the form systemd reads
// with PEM_read_PUBKEY and `openssl rsa -pubout` writes.
func PublicKeyPEM(pcrKey crypto.Signer) ([]byte, error) {
	pub, _, err := rsaPublic(pcrKey)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKey, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}
