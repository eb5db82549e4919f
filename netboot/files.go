package netboot

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/kiln-os/kiln/pipeline"
	"github.com/kiln-os/kiln/uki/authenticode"
)

// BootFile is the name under which the signed UKI is served, over TFTP and HTTP. The
// name is fixed: clients are told it in the DHCP reply and never choose another.
const BootFile = "kiln.efi"

// servedFile is one file of the served set, held in memory: exactly the bytes that
// were checked are the bytes served, whatever happens to the file on disk later.
type servedFile struct {
	name   string
	data   []byte
	sha256 string
}

func (f *servedFile) reader() *bytes.Reader { return bytes.NewReader(f.data) }

// loadUKI reads the manifest in out, and the UKI it names, and checks that the file is
// the one the build recorded (size and SHA-256) and that it is Authenticode-signed by
// the build's db certificate: the signature verifies, its signer has the fingerprint
// the manifest recorded, and, when db is given, the signer chains to db.
func loadUKI(out, dbPath string) (*servedFile, error) {
	m, err := pipeline.ReadManifest(out)
	if err != nil {
		return nil, &FlagError{Flag: "--out", Err: err}
	}
	art, ok := m.Artifacts["uki"]
	if !ok {
		return nil, flagErr("--out", "%s names no uki artifact: rebuild with `make`", out)
	}
	path, err := m.Path(out, "uki")
	if err != nil {
		return nil, &FlagError{Flag: "--out", Err: err}
	}
	data, err := readBounded(path, art.Size)
	if err != nil {
		return nil, &FlagError{Flag: "--out", Err: err}
	}
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); got != art.SHA256 {
		return nil, flagErr("--out", "%s has SHA-256 %s, the manifest says %s: the file changed after the build", path, got, art.SHA256)
	}
	if err := checkSignature(data, m, dbPath); err != nil {
		if fe := (*FlagError)(nil); errors.As(err, &fe) {
			return nil, err
		}
		return nil, flagErr("--out", "%s: %w", path, err)
	}
	return &servedFile{name: BootFile, data: data, sha256: art.SHA256}, nil
}

// readBounded reads path, which the manifest says holds size bytes.
func readBounded(path string, size int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, size+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) != size {
		return nil, fmt.Errorf("%s is not the %d bytes the manifest says: the file changed after the build", path, size)
	}
	return data, nil
}

func checkSignature(uki []byte, m *pipeline.Manifest, dbPath string) error {
	signer, err := authenticode.Signer(uki)
	if err != nil {
		return fmt.Errorf("the UKI must be signed for Secure Boot: %w", err)
	}
	if m.UKI == nil || m.UKI.Signer == "" {
		return fmt.Errorf("the manifest records no UKI signer (uki.signerCertSha256): rebuild with `make`")
	}
	sum := sha256.Sum256(signer.Raw)
	if got := hex.EncodeToString(sum[:]); got != m.UKI.Signer {
		return fmt.Errorf("the UKI is signed by %s (sha256 %s), not by the build's db certificate (sha256 %s)", signer.Subject, got, m.UKI.Signer)
	}
	if dbPath == "" {
		return nil
	}
	db, err := readCert(dbPath)
	if err != nil {
		return &FlagError{Flag: "--db", Err: err}
	}
	if err := authenticode.Verify(uki, []*x509.Certificate{db}); err != nil {
		return &FlagError{Flag: "--db", Err: fmt.Errorf("the UKI does not verify against %s: %w", dbPath, err)}
	}
	return nil
}

// readCert reads the first PEM certificate of path.
func readCert(path string) (*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%s holds no PEM CERTIFICATE", path)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cert, nil
}
