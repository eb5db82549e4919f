package config

import (
	"gopkg.in/yaml.v3"
	"strings"
	"sync"
	"testing"
	"time"
)

var testNow = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

var (
	testSecretsOnce sync.Once
	testSecrets     *Secrets
)

// secretsForTest generates one set of secrets per test binary (key generation is slow).
func secretsForTest(t testing.TB) *Secrets {
	t.Helper()
	testSecretsOnce.Do(func() {
		var err error
		if testSecrets, err = GenerateSecrets(testNow); err != nil {
			panic(err)
		}
	})
	return testSecrets
}

// fullConfig is a controlplane config with every section filled in.
func fullConfig(t testing.TB) *Config {
	t.Helper()
	s := secretsForTest(t)
	return &Config{
		Version: Version1Alpha1,
		Machine: Machine{
			Type:     TypeControlPlane,
			Token:    s.Token,
			CA:       s.OSCA,
			CertSANs: []string{"10.0.2.15", "node1.example"},
			Network: Network{
				Hostname: "node1",
				Interfaces: []Interface{{
					Name: "eth0", DHCP: true, Addresses: []string{"192.168.1.10/24"}, MTU: 1500,
					Routes: []Route{{Network: "0.0.0.0/0", Gateway: "192.168.1.1", Metric: 1024}},
				}},
				Nameservers: []string{"1.1.1.1"},
			},
			Time:    Time{Servers: []string{"pool.ntp.org"}},
			Sysctls: map[string]string{"net.ipv4.ip_forward": "1"},
			Install: Install{Disk: "/dev/vda"},
		},
		Cluster: Cluster{
			Name:         "kiln",
			ControlPlane: ControlPlane{Endpoint: "https://10.0.2.15:6443"},
			CA:           s.KubernetesCA,
		},
	}
}

func encodeForTest(t testing.TB, c *Config) []byte {
	t.Helper()
	data, err := Encode(c)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func wantErrorContaining(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", parts)
	}
	for _, part := range parts {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("error %q does not contain %q", err, part)
		}
	}
}

// containsSubtree reports whether want (a value, or a one-member mapping standing for a
// member) is found anywhere inside n.
func containsSubtree(n, want *yaml.Node) bool {
	if equalValues(n, want) {
		return true
	}
	if want.Kind == yaml.MappingNode && n.Kind == yaml.MappingNode && len(want.Content) == 2 {
		if i := mappingIndex(n, want.Content[0].Value); i >= 0 && equalValues(n.Content[i], want.Content[1]) {
			return true
		}
	}
	for _, child := range n.Content {
		if containsSubtree(child, want) {
			return true
		}
	}
	return false
}
