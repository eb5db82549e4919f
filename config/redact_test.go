package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	cfg := fullConfig(t)
	out := Redact(cfg)
	if !reflect.DeepEqual(cfg, fullConfig(t)) {
		t.Error("Redact changed its input")
	}
	text := string(encodeForTest(t, out))
	for _, secret := range secretMarks(cfg) {
		if strings.Contains(text, secret) {
			t.Errorf("redacted config holds the secret %q:\n%s", secret, text)
		}
	}
	if out.Machine.Token != redacted || out.Machine.CA.Key != redacted || out.Cluster.CA.Key != redacted {
		t.Errorf("secrets not replaced by %s: %+v", redacted, out)
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
