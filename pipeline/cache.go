package pipeline

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Cache is the content-addressed step cache: CacheDir/steps/<step>/<key>/ holds what a step
// made from inputs whose SHA-256 is key. An entry appears whole (staged, then renamed) or
// not at all, so an interrupted build never leaves a half-written hit.
type Cache struct{ Dir string }

// Step returns the directory of (step, key), running produce into a fresh directory first
// when the entry is missing.
func (c Cache) Step(step, key string, produce func(dir string) error) (dir string, hit bool, err error) {
	final := filepath.Join(c.Dir, "steps", step, key)
	if _, err := os.Stat(filepath.Join(final, ".done")); err == nil {
		return final, true, nil
	}
	if err := os.MkdirAll(filepath.Dir(final), 0o755); err != nil {
		return "", false, err
	}
	staging, err := os.MkdirTemp(filepath.Dir(final), "."+key[:12]+"-")
	if err != nil {
		return "", false, err
	}
	defer os.RemoveAll(staging)
	if err := produce(staging); err != nil {
		return "", false, err
	}
	if err := os.WriteFile(filepath.Join(staging, ".done"), nil, 0o644); err != nil {
		return "", false, err
	}
	os.RemoveAll(final) // an entry without .done is from an interrupted run
	if err := os.Rename(staging, final); err != nil {
		return "", false, err
	}
	return final, false, nil
}

// Key hashes the named inputs of a step; each part is length-prefixed so that no two
// different lists of parts hash alike.
func Key(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s\n", len(p), p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// FileSHA256 returns the hex SHA-256 and size of a file.
func FileSHA256(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, fmt.Errorf("hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}
