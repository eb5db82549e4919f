package trustd

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeFiles writes the CA, a server key pair and the token into a temp dir and returns
// Main's arguments.
func writeFiles(t *testing.T, token string) []string {
	t.Helper()
	s := newSigner(t)
	dir := t.TempDir()
	write := func(name, typ string, der []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	keyDER := func(key any) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	server := serverCert(t, s)
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
	return []string{
		"--listen", "127.0.0.1:0",
		"--ca", write("ca.crt", "CERTIFICATE", s.CA.Raw), "--ca-key", write("ca.key", "PRIVATE KEY", keyDER(s.CAKey)),
		"--cert", write("server.crt", "CERTIFICATE", server.Certificate[0]), "--key", write("server.key", "PRIVATE KEY", keyDER(server.PrivateKey)),
		"--token-file", tokenFile,
	}
}

func TestMainServesUntilCancelled(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	var stderr bytes.Buffer
	if err := Main(ctx, writeFiles(t, "join-token\n"), &stderr); err != nil {
		t.Fatalf("Main: %v\n%s", err, stderr.String())
	}
}

func TestMainRefusesEmptyToken(t *testing.T) {
	err := Main(context.Background(), writeFiles(t, " \n"), &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("Main with an empty token file: %v, want an error saying it is empty", err)
	}
}
