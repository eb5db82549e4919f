package services

import (
	"context"
	"crypto/sha256"
	"encoding/hex"

	"github.com/kiln-os/kiln/initd/configstate"
	"github.com/kiln-os/kiln/initd/containers"
	"github.com/kiln-os/kiln/initd/resources"
	"github.com/kiln-os/kiln/initd/resources/controller"
	"github.com/kiln-os/kiln/initd/watchdog"
)

// Self is the path of the machined binary in the root filesystem; services that are
// modes of the multi-call binary run it with their name as the first argument.
const Self = "/sbin/init"

var servicePath = []string{"PATH=/sbin:/usr/sbin:/bin:/usr/bin"}

// SpecController derives the services of this machine: apid always, trustd on a control
// plane node (the one that holds the CA key), watchdogd when the machine has a watchdog,
// and, when the config runs Kubernetes, the services the Kubernetes controller lists
// (k8s/KubernetesServices).
// It waits for the API certificate and for the boot to reach StartServices, so that a
// boot that fails earlier runs no service.
type SpecController struct {
	Watchdog       bool   // the machine has a watchdog device
	MachinedSocket string // where apid reaches machined
}

func (c *SpecController) Name() string { return "ServiceSpecController" }

func (c *SpecController) Inputs() []controller.Input {
	return []controller.Input{
		configstate.Input,
		{Namespace: resources.NamespaceSecrets, Type: resources.TypeAPICertificate},
		{Namespace: resources.NamespaceRuntime, Type: resources.TypeMachineStatus},
		{Namespace: resources.NamespaceK8s, Type: resources.TypeKubernetesServices},
	}
}

func (c *SpecController) Outputs() []controller.Output {
	return []controller.Output{{Type: resources.TypeServiceSpec}, {Type: resources.TypeServiceSet}}
}

// Reconcile writes the spec of every service this machine runs, removes the others, and
// then, last, the ServiceSet that names them.
func (c *SpecController) Reconcile(ctx context.Context, r *controller.Runtime) error {
	specs, err := c.wanted(r)
	if err != nil || specs == nil {
		return err
	}
	var keep []string
	for _, s := range specs {
		if _, err := r.Set(ctx, resources.NamespaceRuntime, resources.TypeServiceSpec, s.Name, s); err != nil {
			return err
		}
		keep = append(keep, s.Name)
	}
	if err := r.Cleanup(resources.NamespaceRuntime, resources.TypeServiceSpec, keep); err != nil {
		return err
	}
	_, err = r.Set(ctx, resources.NamespaceRuntime, resources.TypeServiceSet, resources.ServiceSetID, &resources.ServiceSetSpec{Names: keep})
	return err
}

// wanted is the services to run; nil while it is too early to say.
func (c *SpecController) wanted(r *controller.Runtime) ([]*resources.ServiceSpecSpec, error) {
	if allowed, err := servicesAllowed(r); err != nil || !allowed {
		return nil, err
	}
	cfg, err := configstate.FromRuntime(r)
	if err != nil || cfg == nil {
		return nil, err
	}
	cert, err := controller.Spec[resources.APICertificateSpec](r, resources.NamespaceSecrets, resources.TypeAPICertificate, resources.APICertificateID)
	if err != nil || cert == nil {
		return nil, err
	}
	generation := certGeneration(cert)
	// containerd first (DESIGN.md "StartServices"): the supervisor starts every service
	// at once, and neither apid nor trustd needs containerd, so none waits for it.
	specs := []*resources.ServiceSpecSpec{containerd(), c.apid(generation)}
	if cfg.Config.Machine.CA.Key != "" { // only control plane nodes sign
		specs = append(specs, trustd(generation))
	}
	if c.Watchdog {
		specs = append(specs, watchdogd())
	}
	if cfg.Config.Kubernetes() {
		// The set waits for Kubernetes' services: a set that grew later would replace the
		// supervisor, and restart apid under its callers.
		kube, err := controller.Spec[resources.KubernetesServicesSpec](r, resources.NamespaceK8s, resources.TypeKubernetesServices, resources.KubernetesServicesID)
		if err != nil || kube == nil {
			return nil, err
		}
		for i := range kube.Services {
			specs = append(specs, &kube.Services[i])
		}
	}
	return specs, nil
}

func servicesAllowed(r *controller.Runtime) (bool, error) {
	st, err := controller.Spec[resources.MachineStatusSpec](r, resources.NamespaceRuntime, resources.TypeMachineStatus, resources.MachineStatusID)
	return st != nil && st.ServicesAllowed(), err
}

// certGeneration changes with the certificate, so apid and trustd restart to load a new one.
func certGeneration(cert *resources.APICertificateSpec) string {
	sum := sha256.Sum256([]byte(cert.CertificatePEM))
	return hex.EncodeToString(sum[:8])
}

func (c *SpecController) apid(generation string) *resources.ServiceSpecSpec {
	u := APIDUser
	return &resources.ServiceSpecSpec{
		Name: "apid", Argv: []string{Self, "apid", "--ca", u.Path("ca.crt"), "--cert", u.Path("server.crt"), "--key", u.Path("server.key"),
			"--machined-socket", c.MachinedSocket},
		Env: servicePath, UID: u.UID, GID: u.GID, Output: "apid", HealthTCP: "127.0.0.1:" + APIDPort, Generation: generation,
	}
}

func trustd(generation string) *resources.ServiceSpecSpec {
	u := TrustdUser
	return &resources.ServiceSpecSpec{
		Name: "trustd", Argv: []string{Self, "trustd", "--listen", ":" + TrustdPort, "--ca", u.Path("ca.crt"), "--ca-key", u.Path("ca.key"),
			"--cert", u.Path("server.crt"), "--key", u.Path("server.key"), "--token-file", u.Path("token")},
		Env: servicePath, UID: u.UID, GID: u.GID, Output: "trustd", HealthTCP: "127.0.0.1:" + TrustdPort, Generation: generation,
	}
}

// The node's containerd (built by the pipeline from containerd/, the config written by
// the pipeline too): root, with its state on EPHEMERAL (/var/lib/containerd), its socket
// root's only, its OOM score set by its config (oom_score). Healthy once its API answers.
const (
	ContainerdBinary = "/usr/bin/containerd"
	ContainerdConfig = "/etc/containerd/config.toml"
)

func containerd() *resources.ServiceSpecSpec {
	return &resources.ServiceSpecSpec{
		Name: "containerd", Argv: []string{ContainerdBinary, "--config", ContainerdConfig},
		Env: servicePath, Output: "containerd", HealthContainerd: containers.Socket,
	}
}

func watchdogd() *resources.ServiceSpecSpec {
	return &resources.ServiceSpecSpec{Name: "watchdogd", Argv: []string{Self, "watchdogd"}, Env: servicePath, HealthFile: watchdog.ArmedFile}
}
