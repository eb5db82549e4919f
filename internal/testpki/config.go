package testpki

import (
	"testing"
	"time"

	"github.com/kiln-os/kiln/config"
)

// Machine configs belong here beside the CAs: a generated config is a CA pair, a token
// and a cluster CA, and the node's tests (API certificate, redaction, config state) need
// one each.

// ControlPlaneConfig returns a generated controlplane machine config with fresh secrets
// (keys, join token), as `kilnctl gen config` writes one, for tests of the node.
func ControlPlaneConfig(t testing.TB) *config.Config {
	t.Helper()
	secrets, err := config.GenerateSecrets(time.Unix(1_700_000_000, 0))
	if err != nil {
		t.Fatal(err)
	}
	cp, _, err := config.Generate(config.GenerateInput{Secrets: secrets, Endpoint: "https://10.0.2.15:6443"})
	if err != nil {
		t.Fatal(err)
	}
	return cp
}

// Encode is config.Encode for tests: the YAML a node would be sent.
func Encode(t testing.TB, cfg *config.Config) []byte {
	t.Helper()
	data, err := config.Encode(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
