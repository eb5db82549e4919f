package config

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	cfg := fullConfig(t)
	before := encodeForTest(t, cfg)
	out := Redact(cfg)
	text := string(encodeForTest(t, out))
	for _, secret := range secretMarks(cfg) {
		if strings.Contains(text, secret) {
			t.Errorf("redacted config holds the secret %q:\n%s", secret, text)
		}
	}
	if out.Machine.Token != redacted || out.Machine.CA.Key != redacted || out.Cluster.CA.Key != redacted {
		t.Errorf("secrets not replaced by %s: %+v", redacted, out)
	}
	if string(encodeForTest(t, cfg)) != string(before) {
		t.Error("Redact changed its input")
	}
	out.Machine.CA.Key, out.Machine.Token, out.Cluster.CA.Key = cfg.Machine.CA.Key, cfg.Machine.Token, cfg.Cluster.CA.Key
	if !reflect.DeepEqual(out, cfg) {
		t.Error("Redact changed more than the secrets")
	}
}

func TestRedactSharesNothing(t *testing.T) {
	cfg := fullConfig(t)
	out := Redact(cfg)
	out.Machine.Network.Interfaces[0].Addresses[0] = "10.9.9.9/8"
	out.Machine.Network.Interfaces[0].Routes[0].Metric = 1
	out.Machine.Sysctls["net.ipv4.ip_forward"] = "0"
	out.Machine.CertSANs[0] = "other"
	if !reflect.DeepEqual(cfg, fullConfig(t)) {
		t.Error("changing Redact's copy changed its input")
	}
}

func TestRedactKeepsAbsentSecretsAbsent(t *testing.T) {
	cfg := fullConfig(t)
	cfg.Machine.Type, cfg.Machine.CA.Key, cfg.Cluster.CA.Key = TypeWorker, "", ""
	out := Redact(cfg)
	if out.Machine.CA.Key != "" || out.Cluster.CA.Key != "" {
		t.Errorf("a worker's absent CA keys read %q and %q", out.Machine.CA.Key, out.Cluster.CA.Key)
	}
	if Redact(nil) != nil {
		t.Error("Redact(nil) is not nil")
	}
}

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
