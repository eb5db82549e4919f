package netboot

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/kiln-os/kiln/internal/ukitest"
	"github.com/kiln-os/kiln/pipeline"
)

// testKeys are uki/authenticode's throw-away keys, which ukitest signs with.
var testKeys = filepath.Join("..", "uki", "authenticode", "testdata")

// fakeOut writes a build output directory holding uki as the "uki" artifact, with a
// manifest that records signer (a PEM certificate file) as the UKI's signer.
func fakeOut(t *testing.T, uki []byte, signer string) string {
	t.Helper()
	out := t.TempDir()
	if err := os.WriteFile(filepath.Join(out, "kiln-1.0+3.efi"), uki, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(uki)
	m := pipeline.Manifest{
		Name: "kiln", Version: "1.0",
		UKI:       &pipeline.UKIInfo{Signer: certSHA256(t, signer)},
		Artifacts: map[string]pipeline.Artifact{"uki": {Path: "kiln-1.0+3.efi", SHA256: hex.EncodeToString(sum[:]), Size: int64(len(uki))}},
	}
	data, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(out, pipeline.ManifestName), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

func certSHA256(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(cert.Raw)
	return hex.EncodeToString(sum[:])
}

// signedUKI is a small UKI signed with the test db key.
func signedUKI(t *testing.T) []byte { return ukitest.Kiln("1.0").Build(t) }

// testFiles is the served set of a signed test UKI.
func testFiles(t *testing.T) (map[string]*servedFile, []byte) {
	t.Helper()
	uki := signedUKI(t)
	f, err := loadUKI(fakeOut(t, uki, filepath.Join(testKeys, "db.crt")), filepath.Join(testKeys, "db.crt"))
	if err != nil {
		t.Fatal(err)
	}
	return map[string]*servedFile{f.name: f}, uki
}

// logLines records log lines, from any goroutine.
type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
}

// with returns the lines that start with prefix.
func (l *logLines) with(prefix string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, line := range l.lines {
		if strings.HasPrefix(line, prefix) {
			out = append(out, line)
		}
	}
	return out
}

func (l *logLines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}
