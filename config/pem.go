package config

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

func (ca *CA) validate(l *errorList, p string) {
	crt, err := parseCertificatePEM(ca.Crt)
	if err != nil {
		l.add(0, p+".crt", "%v", err)
	} else if !crt.IsCA {
		l.add(0, p+".crt", "certificate %q is not a CA (basic constraints CA:TRUE missing)", crt.Subject.CommonName)
	}
	if ca.Key == "" {
		return
	}
	key, err := parsePrivateKeyPEM(ca.Key)
	if err != nil {
		l.add(0, p+".key", "%v", err)
		return
	}
	if crt != nil && !publicKeyOf(key).Equal(crt.PublicKey) {
		l.add(0, p+".key", "does not match the public key of %s.crt", p)
	}
}

// validateAcceptedCAs checks that each entry is one CA certificate: a key pasted there,
// or a leaf, is refused rather than trusted.
func validateAcceptedCAs(l *errorList, p string, cas []AcceptedCA) {
	for i, ca := range cas {
		at := fmt.Sprintf("%s[%d].crt", p, i)
		crt, err := parseCertificatePEM(ca.Crt)
		switch {
		case err != nil:
			l.add(0, at, "%v", err)
		case !crt.IsCA:
			l.add(0, at, "certificate %q is not a CA (basic constraints CA:TRUE missing)", crt.Subject.CommonName)
		}
	}
}

// parseCertificatePEM reads exactly one CERTIFICATE block.
func parseCertificatePEM(text string) (*x509.Certificate, error) {
	block, err := onePEMBlock(text)
	if err != nil {
		return nil, err
	}
	if block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("PEM block is %q, want CERTIFICATE", block.Type)
	}
	return x509.ParseCertificate(block.Bytes)
}

// privateKey is what every key type in crypto/ offers.
type privateKey interface {
	crypto.Signer
	Equal(crypto.PrivateKey) bool
}

// parsePrivateKeyPEM reads one EC PRIVATE KEY (SEC 1) or PRIVATE KEY (PKCS #8) block.
func parsePrivateKeyPEM(text string) (privateKey, error) {
	block, err := onePEMBlock(text)
	if err != nil {
		return nil, err
	}
	var key any
	switch block.Type {
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("PEM block is %q, want EC PRIVATE KEY or PRIVATE KEY", block.Type)
	}
	if err != nil {
		return nil, err
	}
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		return k, nil
	case ed25519.PrivateKey:
		return k, nil
	case *rsa.PrivateKey:
		return k, nil
	}
	return nil, fmt.Errorf("unsupported private key type %T", key)
}

type publicKey interface {
	Equal(crypto.PublicKey) bool
}

func publicKeyOf(key privateKey) publicKey {
	return key.Public().(publicKey) // every crypto/ public key type has Equal
}

func onePEMBlock(text string) (*pem.Block, error) {
	if text == "" {
		return nil, errors.New("is empty: expected PEM text")
	}
	block, rest := pem.Decode([]byte(text))
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	if next, _ := pem.Decode(rest); next != nil {
		return nil, errors.New("holds more than one PEM block: give exactly one")
	}
	return block, nil
}

// PublicKeyPEM returns the public half of a PEM private key as a PKIX "PUBLIC KEY" PEM
// block (the service account key's public half, which the API server verifies tokens
// with).
func PublicKeyPEM(keyPEM string) ([]byte, error) {
	key, err := parsePrivateKeyPEM(keyPEM)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}
