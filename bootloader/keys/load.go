package keys

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// publicKeyer is what every crypto.Signer's public key implements.
type publicKeyer interface {
	Equal(crypto.PublicKey) bool
}

// Load reads the key set in dir. A missing file is ErrMissing with the path
// and what to run; a key file readable by group or others is ErrMode; a
// certificate whose public key is not its key's is ErrMismatch.
func Load(dir string) (*Set, error) {
	var s Set
	for _, slot := range []struct {
		role Role
		pair *Pair
	}{{PK, &s.PK}, {KEK, &s.KEK}, {DB, &s.DB}} {
		pair, err := loadPair(dir, slot.role)
		if err != nil {
			return nil, err
		}
		*slot.pair = pair
	}
	pcr, err := loadKey(filepath.Join(dir, keyFile(PCR)))
	if err != nil {
		return nil, err
	}
	s.PCR = pcr
	return &s, nil
}

func loadPair(dir string, role Role) (Pair, error) {
	signer, err := loadKey(filepath.Join(dir, keyFile(role)))
	if err != nil {
		return Pair{}, err
	}
	certPath := filepath.Join(dir, certFile(role))
	block, err := readPEM(certPath, "CERTIFICATE")
	if err != nil {
		return Pair{}, err
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return Pair{}, fmt.Errorf("%w: %s: %v", ErrKeyFile, certPath, err)
	}
	if pub, ok := signer.Public().(publicKeyer); !ok || !pub.Equal(cert.PublicKey) {
		return Pair{}, fmt.Errorf("%w: %s and %s", ErrMismatch, certPath, keyFile(role))
	}
	return Pair{Cert: cert, Signer: signer}, nil
}

// loadKey reads a PKCS#8 ("PRIVATE KEY") or PKCS#1 ("RSA PRIVATE KEY") key,
// the forms Generate, openssl and ukify write.
func loadKey(path string) (crypto.Signer, error) {
	if err := checkMode(path); err != nil {
		return nil, err
	}
	block, err := readPEM(path, "PRIVATE KEY", "RSA PRIVATE KEY")
	if err != nil {
		return nil, err
	}
	var key any
	if block.Type == "RSA PRIVATE KEY" {
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	} else {
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrKeyFile, path, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%w: %s: a %T cannot sign", ErrKeyFile, path, key)
	}
	return signer, nil
}

// checkMode refuses a private key that others can read, as ssh does.
func checkMode(path string) error {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %s; %s", ErrMissing, path, HowToGenerate)
	}
	if err != nil {
		return err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("%w: %s has mode %#o; run chmod 600 %s", ErrMode, path, fi.Mode().Perm(), path)
	}
	return nil
}

// readPEM returns the first PEM block of path, which must be of one of types.
func readPEM(path string, types ...string) (*pem.Block, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s; %s", ErrMissing, path, HowToGenerate)
	}
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%w: %s: no PEM block", ErrKeyFile, path)
	}
	for _, t := range types {
		if block.Type == t {
			return block, nil
		}
	}
	return nil, fmt.Errorf("%w: %s: PEM block %q, want %q", ErrKeyFile, path, block.Type, types)
}
