package config

import (
	"errors"
	"fmt"
	"slices"
)

// GenerateInput is what Generate needs besides the secrets.
type GenerateInput struct {
	Secrets *Secrets
	// ClusterName; empty means DefaultClusterName.
	ClusterName string
	// Endpoint is the Kubernetes API URL (https://10.0.2.15:6443).
	Endpoint string
	// CertSANs are extra names for the controlplane's API server certificate.
	CertSANs []string
	// InstallDisk is the install target for both configs; empty for no install section.
	InstallDisk string
}

// Generate builds a controlplane config holding the CA keys and a worker config holding
// only the CA certificates, both from in.Secrets, and validates them. With Kubernetes
// secrets both carry the bootstrap token (so both run Kubernetes) and the etcd CA
// certificate; the controlplane alone carries the keys.
func Generate(in GenerateInput) (controlplane, worker *Config, err error) {
	if in.Secrets == nil {
		return nil, nil, errors.New("generate: no secrets given (call GenerateSecrets)")
	}
	name := in.ClusterName
	if name == "" {
		name = DefaultClusterName
	}
	controlplane = &Config{
		Version: Version1Alpha1,
		Machine: Machine{
			Type:     TypeControlPlane,
			Token:    in.Secrets.Token,
			CA:       in.Secrets.OSCA,
			CertSANs: slices.Clone(in.CertSANs),
			Install:  Install{Disk: in.InstallDisk},
		},
		Cluster: Cluster{
			Name:         name,
			ControlPlane: ControlPlane{Endpoint: in.Endpoint},
			CA:           in.Secrets.KubernetesCA,
		},
	}
	worker = &Config{
		Version: Version1Alpha1,
		Machine: Machine{
			Type:    TypeWorker,
			Token:   in.Secrets.Token,
			CA:      CA{Crt: in.Secrets.OSCA.Crt},
			Install: Install{Disk: in.InstallDisk},
		},
		Cluster: Cluster{
			Name:         name,
			ControlPlane: ControlPlane{Endpoint: in.Endpoint},
			CA:           CA{Crt: in.Secrets.KubernetesCA.Crt},
		},
	}
	if k := in.Secrets.Kubernetes; k != nil {
		controlplane.Cluster.Token, worker.Cluster.Token = k.BootstrapToken, k.BootstrapToken
		controlplane.Cluster.Etcd.CA, worker.Cluster.Etcd.CA = k.EtcdCA, CA{Crt: k.EtcdCA.Crt}
		controlplane.Cluster.ServiceAccount.Key = k.ServiceAccountKey
		controlplane.Cluster.SecretboxEncryptionSecret = k.SecretboxSecret
	}
	if err := controlplane.Validate(); err != nil {
		return nil, nil, fmt.Errorf("generated controlplane config: %w", err)
	}
	if err := worker.Validate(); err != nil {
		return nil, nil, fmt.Errorf("generated worker config: %w", err)
	}
	return controlplane, worker, nil
}
