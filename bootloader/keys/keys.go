// Package keys creates and loads Kiln's Secure Boot and measured-boot keys:
// the platform key (PK), the key exchange key (KEK), the signature database
// key (db) that signs systemd-boot and the UKIs, and the PCR key that signs
// the UKI's PCR 11 policy (.pcrsig).
//
// The room: key files in one directory, by convention `_keys/` at the top of
// the repository. Keys live there and only there: never in the build cache
// ($KILN_CACHE), never in `_out/`, never in an image or a manifest. This
// package takes the directory from its caller and does not choose it; the
// callers (`kiln keys generate`, the pipeline's --generate-keys) must pass
// `_keys/`. It never signs anything itself: Load hands out crypto.Signer
// values, the interface an HSM or KMS implementation will replace the file
// keys with, and the signing formats live in uki/authenticode and
// bootloader/efivar.
//
// Files (PEM): PK.key PK.crt KEK.key KEK.crt db.key db.crt pcr.key. Keys are
// PKCS#8 "PRIVATE KEY" with mode 0600 in a 0700 directory; certificates are
// self-signed X.509, RSA 2048 (the size every UEFI implementation verifies),
// SHA-256. Generate never overwrites a key.
package keys

import (
	"crypto"
	"crypto/x509"
	"errors"
)

// Role names one key of the set; it is also the stem of its files.
type Role string

// The keys of a set.
const (
	PK  Role = "PK"  // platform key: owns KEK, self-signed PK.auth
	KEK Role = "KEK" // key exchange key: signs db.auth
	DB  Role = "db"  // signature database key: signs systemd-boot and UKIs
	PCR Role = "pcr" // signs the PCR 11 policy in the UKI; no certificate
)

// CertRoles are the roles that have a certificate, in enrolment-chain order.
var CertRoles = []Role{PK, KEK, DB}

// Errors returned by Generate and Load, wrapped with the file at fault.
var (
	ErrExist    = errors.New("keys: key file already exists")
	ErrMissing  = errors.New("keys: key file missing")
	ErrKeyFile  = errors.New("keys: invalid key file")
	ErrMismatch = errors.New("keys: certificate does not match its key")
	ErrMode     = errors.New("keys: key file readable by others")
)

// HowToGenerate is what a user is told to do when keys are missing.
const HowToGenerate = `run "kiln keys generate" (or pass --generate-keys to "kiln build")`

// Pair is a certificate and the signer holding its private key.
type Pair struct {
	Cert   *x509.Certificate
	Signer crypto.Signer
}

// Set is a loaded key set.
type Set struct {
	PK, KEK, DB Pair
	PCR         crypto.Signer
}

// Pair returns the pair for a certificate role.
func (s *Set) Pair(r Role) (Pair, bool) {
	switch r {
	case PK:
		return s.PK, true
	case KEK:
		return s.KEK, true
	case DB:
		return s.DB, true
	}
	return Pair{}, false
}

// Files lists every file of a set, in the order Generate writes them.
func Files() []string {
	return []string{"PK.key", "PK.crt", "KEK.key", "KEK.crt", "db.key", "db.crt", "pcr.key"}
}

func keyFile(r Role) string  { return string(r) + ".key" }
func certFile(r Role) string { return string(r) + ".crt" }
