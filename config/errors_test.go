package config

import (
	"errors"
	"os"
	"testing"
)

func TestErrInvalid(t *testing.T) {
	bad := [][]byte{
		nil,
		[]byte("version: [\n"),
		[]byte("a: 1\n---\nb: 2\n"),
		[]byte("version: v1alpha1\nmachine: {type: 1}\n"),
		[]byte("version: v1alpha1\nunknown: 1\n"),
	}
	for _, data := range bad {
		_, err := Decode(data)
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("Decode(%q) = %v, not ErrInvalid", data, err)
		}
	}
	cfg := fullConfig(t)
	cfg.Machine.Network.Hostname = "-bad-"
	err := cfg.Validate()
	var fieldErrs FieldErrors
	if !errors.Is(err, ErrInvalid) || !errors.As(err, &fieldErrs) || fieldErrs[0].Path != "machine.network.hostname" {
		t.Errorf("Validate = %v, want ErrInvalid with FieldErrors", err)
	}
	if errors.Is(errors.New("disk full"), ErrInvalid) || errors.Is(&NeedsRebootError{}, ErrInvalid) {
		t.Error("an unrelated error matches ErrInvalid")
	}
}

func TestLoadErrorsAreInvalidOnlyForTheConfig(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(dir + "/missing.yaml"); err == nil || errors.Is(err, ErrInvalid) {
		t.Errorf("a missing file: %v, want an error that is not ErrInvalid", err)
	}
	cfg := fullConfig(t)
	cfg.Machine.Type = "laptop"
	path := dir + "/bad.yaml"
	if err := os.WriteFile(path, encodeForTest(t, cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); !errors.Is(err, ErrInvalid) {
		t.Errorf("Load of an invalid config = %v, not ErrInvalid", err)
	}
}
