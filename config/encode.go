package config

import (
	"bytes"
	"fmt"
	"os"

	"github.com/kiln-os/kiln/internal/atomicfile"
	"gopkg.in/yaml.v3"
)

// Encode writes c as YAML: keys in the order of the Go types, two-space indentation,
// empty fields left out, PEM text as literal blocks. The same Config always gives the same
// bytes.
func Encode(c *Config) ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Load reads, decodes and validates the config at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	c, err := Decode(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Save validates c and replaces path with it atomically (write, fsync, rename), mode
// 0600 since the config holds keys. A config that fails Validate leaves path untouched.
func Save(path string, c *Config) error {
	if err := c.Validate(); err != nil {
		return fmt.Errorf("config not saved: %w", err)
	}
	data, err := Encode(c)
	if err != nil {
		return err
	}
	return atomicfile.Write(path, data, 0o600)
}
