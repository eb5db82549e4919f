package keys

import (
	cryptorand "crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"github.com/kiln-os/kiln/internal/atomicfile"
)

// rsaBits is the size of every key: RSA 2048 is what the UEFI specification
// requires firmware to verify (KEK and db entries), and what TPMs seal to.
const rsaBits = 2048

// validity is how long the certificates are valid. Firmware does not check
// certificate dates (EDK2 verifies with X509_V_FLAG_NO_CHECK_TIME), but
// tools such as sbverify do, so the window is wide.
const validity = 30 * 365 * 24 * time.Hour

// Generate creates a new key set in dir: PK, KEK and db (self-signed
// certificates named "<commonNamePrefix> PK" etc.; "Kiln" if empty) and the
// PCR key. rand is the entropy for serial numbers and signatures (Go 1.26
// ignores it for key generation and always uses a secure source); notBefore
// is the certificates' start, normally the time `kiln keys generate` runs.
// A nil rand means crypto/rand.Reader.
//
// dir is created with mode 0700 if missing. Generate refuses (ErrExist) if
// any of the files exists, so it never replaces a key that machines trust;
// on any error it removes the files it wrote.
func Generate(dir, commonNamePrefix string, rand io.Reader, notBefore time.Time) error {
	if err := checkAbsent(dir); err != nil {
		return err
	}
	if commonNamePrefix == "" {
		commonNamePrefix = "Kiln"
	}
	if rand == nil {
		rand = cryptorand.Reader
	}
	files, err := generateFiles(commonNamePrefix, rand, notBefore)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return writeAll(dir, files)
}

func checkAbsent(dir string) error {
	for _, name := range Files() {
		_, err := os.Lstat(filepath.Join(dir, name))
		if err == nil {
			return fmt.Errorf("%w: %s (remove the old set first if replacing keys is really meant)", ErrExist, filepath.Join(dir, name))
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// pemFile is one file of a set, ready to write.
type pemFile struct {
	name  string
	mode  os.FileMode
	block *pem.Block
}

func generateFiles(prefix string, random io.Reader, notBefore time.Time) ([]pemFile, error) {
	var files []pemFile
	for _, role := range []Role{PK, KEK, DB, PCR} {
		key, err := rsa.GenerateKey(random, rsaBits)
		if err != nil {
			return nil, fmt.Errorf("generate %s key: %w", role, err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, fmt.Errorf("encode %s key: %w", role, err)
		}
		files = append(files, pemFile{keyFile(role), 0o600, &pem.Block{Type: "PRIVATE KEY", Bytes: der}})
		if role == PCR {
			continue
		}
		cert, err := selfSigned(role, prefix, key, random, notBefore)
		if err != nil {
			return nil, err
		}
		files = append(files, pemFile{certFile(role), 0o644, &pem.Block{Type: "CERTIFICATE", Bytes: cert}})
	}
	return files, nil
}

// selfSigned makes the certificate for role: PK and KEK are CAs (they
// certify the next link of the enrolment chain), db signs code.
func selfSigned(role Role, prefix string, key *rsa.PrivateKey, random io.Reader, notBefore time.Time) ([]byte, error) {
	serial, err := cryptorand.Int(random, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("serial for %s: %w", role, err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial.Add(serial, big.NewInt(1)),
		Subject:               pkix.Name{CommonName: prefix + " " + string(role)},
		NotBefore:             notBefore.UTC().Truncate(time.Second),
		NotAfter:              notBefore.UTC().Truncate(time.Second).Add(validity),
		SignatureAlgorithm:    x509.SHA256WithRSA,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature,
	}
	if role == DB {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}
	} else {
		tmpl.IsCA = true
		tmpl.KeyUsage |= x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	}
	der, err := x509.CreateCertificate(random, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("certificate for %s: %w", role, err)
	}
	return der, nil
}

// writeAll writes every file with O_EXCL, so a file that appeared since
// checkAbsent is not replaced either; on error it removes what it wrote.
func writeAll(dir string, files []pemFile) error {
	var written []string
	for _, f := range files {
		path := filepath.Join(dir, f.name)
		if err := writeExclusive(path, f.mode, pem.EncodeToMemory(f.block)); err != nil {
			for _, p := range written {
				os.Remove(p)
			}
			return err
		}
		written = append(written, path)
	}
	return atomicfile.SyncDir(dir)
}

func writeExclusive(path string, mode os.FileMode, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%w: %s", ErrExist, path)
	}
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
