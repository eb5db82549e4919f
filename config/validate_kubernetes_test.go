package config

import (
	"errors"
	"strings"
	"sync"
	"testing"
)

var (
	kubeSecretsOnce sync.Once
	kubeSecrets     *KubernetesSecrets
)

// kubernetesConfigs generates a controlplane and a worker config that run Kubernetes.
func kubernetesConfigs(t *testing.T) (controlplane, worker *Config) {
	t.Helper()
	kubeSecretsOnce.Do(func() {
		var err error
		if kubeSecrets, err = GenerateKubernetesSecrets(testNow); err != nil {
			panic(err)
		}
	})
	s := *secretsForTest(t)
	s.Kubernetes = kubeSecrets
	cp, w, err := Generate(GenerateInput{Secrets: &s, Endpoint: "https://10.0.2.15:6443"})
	if err != nil {
		t.Fatal(err)
	}
	return cp, w
}

func TestGenerateKubernetes(t *testing.T) {
	cp, w := kubernetesConfigs(t)
	if !cp.Kubernetes() || !w.Kubernetes() {
		t.Fatal("generated configs with Kubernetes secrets do not run Kubernetes")
	}
	if w.Cluster.Etcd.CA.Key != "" || w.Cluster.ServiceAccount.Key != "" || w.Cluster.SecretboxEncryptionSecret != "" {
		t.Error("the worker config carries controlplane secrets")
	}
	if cp.Cluster.Etcd.CA.Key == "" || cp.Cluster.ServiceAccount.Key == "" || cp.Cluster.SecretboxEncryptionSecret == "" {
		t.Error("the controlplane config lacks a Kubernetes secret")
	}
	plain, _, err := Generate(GenerateInput{Secrets: secretsForTest(t), Endpoint: "https://10.0.2.15:6443"})
	if err != nil || plain.Kubernetes() {
		t.Errorf("a config without Kubernetes secrets: Kubernetes() = %v, %v", plain != nil && plain.Kubernetes(), err)
	}
}

// Each broken config is refused with the field's path and a reason.
func TestValidateKubernetes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		worker bool
		edit   func(c *Config)
		path   string
		reason string
	}{
		{"worker without endpoint", true, func(c *Config) { c.Cluster.ControlPlane.Endpoint = "" }, "cluster.controlPlane.endpoint", "https://host:port"},
		{"worker with the service account key", true, func(c *Config) { c.Cluster.ServiceAccount.Key = mustCP(t).Cluster.ServiceAccount.Key }, "cluster.serviceAccount.key", "must not carry"},
		{"worker with etcd's key", true, func(c *Config) { c.Cluster.Etcd.CA.Key = mustCP(t).Cluster.Etcd.CA.Key }, "cluster.etcd.ca.key", "must not carry"},
		{"controlplane without etcd's key", false, func(c *Config) { c.Cluster.Etcd.CA.Key = "" }, "cluster.etcd.ca.key", "needs it"},
		{"controlplane without secretbox", false, func(c *Config) { c.Cluster.SecretboxEncryptionSecret = "" }, "cluster.secretboxEncryptionSecret", "needs it"},
		{"short secretbox", false, func(c *Config) { c.Cluster.SecretboxEncryptionSecret = "c2hvcnQ=" }, "cluster.secretboxEncryptionSecret", "32 bytes"},
		{"keys without a token", false, func(c *Config) { c.Cluster.Token = "" }, "cluster.etcd.ca.key", "without cluster.token"},
		{"bad token", false, func(c *Config) { c.Cluster.Token = "abc.def" }, "cluster.token", "joined by a dot"},
		{"pod subnet with host bits", false, func(c *Config) { c.Cluster.Network.PodSubnets = []string{"10.244.1.0/16"} }, "cluster.network.podSubnets[0]", "host bits"},
		{"IPv6 service subnet", false, func(c *Config) { c.Cluster.Network.ServiceSubnets = []string{"fd00::/108"} }, "cluster.network.serviceSubnets[0]", "not IPv4"},
		{"two pod subnets", false, func(c *Config) { c.Cluster.Network.PodSubnets = []string{"10.244.0.0/16", "10.245.0.0/16"} }, "cluster.network.podSubnets", "one IPv4 network"},
		{"flag with dashes", false, func(c *Config) { c.Cluster.APIServer.ExtraArgs = map[string]string{"--v": "2"} }, "cluster.apiServer.extraArgs.--v", "without the leading dashes"},
		{"flag value on two lines", false, func(c *Config) { c.Machine.Kubelet.ExtraArgs = map[string]string{"v": "2\n--x"} }, "machine.kubelet.extraArgs.v", "one line"},
		{"bad SAN", false, func(c *Config) { c.Cluster.APIServer.CertSANs = []string{"not a name"} }, "cluster.apiServer.certSANs[0]", "neither"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cp, w := kubernetesConfigs(t)
			c := cp
			if tc.worker {
				c = w
			}
			tc.edit(c)
			err := c.Validate()
			var fe FieldErrors
			if !errors.As(err, &fe) {
				t.Fatalf("Validate = %v, want field errors", err)
			}
			for _, e := range fe {
				if e.Path == tc.path && strings.Contains(e.Reason, tc.reason) {
					return
				}
			}
			t.Errorf("Validate = %v, want %s: …%s…", err, tc.path, tc.reason)
		})
	}
}

func mustCP(t *testing.T) *Config {
	cp, _ := kubernetesConfigs(t)
	return cp
}
