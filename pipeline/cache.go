package pipeline

import (
	"os"
	"path/filepath"

	"github.com/kiln-os/kiln/internal/digest"
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

// Key hashes the named inputs of a step (see digest.Key).
func Key(parts ...string) string { return digest.Key(parts...) }

// FileSHA256 returns the hex SHA-256 and size of a file.
func FileSHA256(path string) (string, int64, error) { return digest.File(path) }
