package k8s

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kiln-os/kiln/config"
	"github.com/kiln-os/kiln/initd/configstate"
	"github.com/kiln-os/kiln/initd/events"
	"github.com/kiln-os/kiln/initd/resources"
	"github.com/kiln-os/kiln/initd/resources/controller"
	"github.com/kiln-os/kiln/internal/atomicfile"
	"github.com/kiln-os/kiln/internal/kubepayload"
)

// PayloadController mounts the Kubernetes payload once the config runs Kubernetes and
// the node's storage is up, and publishes k8s/PayloadStatus. A payload that is missing
// or differs from its pin is refused: the status and an event say why, and the
// Kubernetes services stay held; the rest of the node runs on.
type PayloadController struct {
	// Payload is the pinned payload (Payload.Pin zero: the image carries none). Sources
	// are where a missing copy comes from.
	Payload Payload
	// PinErr is why the root's pin could not be read, if it could not.
	PinErr error
	Log    logrus.FieldLogger
	Emit   func(events.Event)

	source  string // where this boot's mounted copy came from
	mounted bool   // the payload was mounted in this boot
}

func (c *PayloadController) Name() string { return "KubernetesPayloadController" }

func (c *PayloadController) Inputs() []controller.Input {
	return []controller.Input{configstate.Input, {Namespace: resources.NamespaceRuntime, Type: resources.TypeMachineStatus},
		{Namespace: resources.NamespaceK8s, Type: resources.TypePayloadImport}}
}

func (c *PayloadController) Outputs() []controller.Output {
	return []controller.Output{{Type: resources.TypePayloadStatus}}
}

func (c *PayloadController) Reconcile(ctx context.Context, r *controller.Runtime) error {
	cfg, err := configstate.FromRuntime(r)
	if err != nil || cfg == nil {
		return err
	}
	st := &resources.PayloadStatusSpec{File: c.Payload.Pin.File, SHA256: c.Payload.Pin.SHA256, Versions: c.Payload.Pin.Versions}
	switch {
	case !cfg.Config.Kubernetes():
		st.State, st.Reason = resources.PayloadDisabled, "the config runs no Kubernetes (no cluster.token)"
	case c.PinErr != nil:
		st.State, st.Reason = resources.PayloadRefused, c.PinErr.Error()
	case c.Payload.Pin.SHA256 == "":
		st.State, st.Reason = resources.PayloadAbsent, "this image was built without the Kubernetes payload (kiln.yaml kubernetes.payload)"
	default:
		if allowed, err := storageUp(r); err != nil || !allowed {
			return err
		}
		c.mount(st)
	}
	_, err = r.Set(ctx, resources.NamespaceK8s, resources.TypePayloadStatus, resources.PayloadStatusID, st)
	return err
}

// mount mounts the payload (idempotent) and records the outcome in st.
func (c *PayloadController) mount(st *resources.PayloadStatusSpec) {
	if c.mounted {
		st.State, st.Source = resources.PayloadMounted, c.source
		return
	}
	start := time.Now()
	m, err := c.Payload.Mount()
	if err != nil {
		st.State, st.Reason = resources.PayloadRefused, err.Error()
		c.Log.WithError(err).Error("Kubernetes payload refused")
		c.Emit(events.Event{Type: events.TypeInfo, Name: "kubernetes-payload", State: resources.PayloadRefused, Error: err.Error()})
		return
	}
	c.source, c.mounted = m.Copied, true
	st.State, st.Source = resources.PayloadMounted, c.source
	c.Log.WithFields(logrus.Fields{"file": m.Path, "copied from": m.Copied, "took": time.Since(start).Round(time.Millisecond)}).Info("Kubernetes payload mounted")
	c.Emit(events.Event{Type: events.TypeInfo, Name: "kubernetes-payload", State: resources.PayloadMounted,
		Fields: map[string]string{"sha256": st.SHA256, "source": m.Copied, "seconds": fmt.Sprintf("%.3f", time.Since(start).Seconds())}})
}

// storageUp reports whether the boot has reached the phase where services run: EPHEMERAL,
// which holds the payload store and etcd's data, is mounted by then.
func storageUp(r *controller.Runtime) (bool, error) {
	st, err := controller.Spec[resources.MachineStatusSpec](r, resources.NamespaceRuntime, resources.TypeMachineStatus, resources.MachineStatusID)
	return st != nil && st.ServicesAllowed(), err
}

// ReadPin reads the root's pin: a zero Pin and no error when the image has none.
func ReadPin(root string) (kubepayload.Pin, error) {
	data, err := os.ReadFile(filepath.Join(root, kubepayload.PinPath))
	if errors.Is(err, os.ErrNotExist) {
		return kubepayload.Pin{}, nil
	}
	if err != nil {
		return kubepayload.Pin{}, err
	}
	return kubepayload.ParsePin(data)
}

// Controller derives how Kubernetes runs on this node from the config, the node's
// name and address, the payload and the bootstrap state: it writes the certificates and
// kubeconfigs (Dir) and publishes k8s/KubeletSpec, etcd/Spec and the services
// (k8s/KubernetesServices).
type Controller struct {
	// Dir is where files go (Dir; tests use a temporary one).
	Dir string
	// Now is the clock certificates are issued by.
	Now func() time.Time
	Log logrus.FieldLogger

	written string // the inputs the files under Dir were made from
}

func (c *Controller) Name() string { return "KubernetesController" }

func (c *Controller) Inputs() []controller.Input {
	return []controller.Input{
		configstate.Input,
		{Namespace: resources.NamespaceK8s, Type: resources.TypePayloadStatus},
		{Namespace: resources.NamespaceNetwork, Type: resources.TypeAddressStatus},
		{Namespace: resources.NamespaceNetwork, Type: resources.TypeHostnameStatus},
		{Namespace: resources.NamespaceEtcd, Type: resources.TypeEtcdBootstrap},
	}
}

func (c *Controller) Outputs() []controller.Output {
	return []controller.Output{{Type: resources.TypeKubeletSpec}, {Type: resources.TypeEtcdSpec}, {Type: resources.TypeKubernetesServices}}
}

func (c *Controller) Reconcile(ctx context.Context, r *controller.Runtime) error {
	cfg, err := configstate.FromRuntime(r)
	if err != nil || cfg == nil || !cfg.Config.Kubernetes() {
		return err
	}
	payload, err := controller.Spec[resources.PayloadStatusSpec](r, resources.NamespaceK8s, resources.TypePayloadStatus, resources.PayloadStatusID)
	if err != nil || payload == nil {
		return err
	}
	node, ok, err := nodeOf(r)
	if err != nil || !ok {
		return err // no address yet: the network controller will wake us
	}
	cluster, err := ClusterOf(cfg.Config)
	if err != nil {
		return err
	}
	generation := inputsKey(cfg.Config, node)
	if generation != c.written {
		if err := c.writeFiles(cluster, node); err != nil {
			return err
		}
		c.written = generation
	}
	bootstrapped, err := Bootstrapped(r)
	if err != nil {
		return err
	}
	etcd, kubelet := cluster.EtcdSpec(node, bootstrapped), cluster.KubeletSpec(node)
	hold := ""
	if payload.State != resources.PayloadMounted {
		hold = "Kubernetes payload " + payload.State + ": " + payload.Reason
	}
	if cluster.ControlPlane {
		if _, err := r.Set(ctx, resources.NamespaceEtcd, resources.TypeEtcdSpec, resources.EtcdSpecID, &etcd); err != nil {
			return err
		}
	}
	if _, err := r.Set(ctx, resources.NamespaceK8s, resources.TypeKubeletSpec, resources.KubeletSpecID, &kubelet); err != nil {
		return err
	}
	svcs := &resources.KubernetesServicesSpec{Services: cluster.Services(node, etcd, kubelet, hold, generation)}
	_, err = r.Set(ctx, resources.NamespaceK8s, resources.TypeKubernetesServices, resources.KubernetesServicesID, svcs)
	return err
}

// Bootstrapped reports whether etcd may start here: kilnctl bootstrap asked for it in
// this boot (etcd/Bootstrap), or its data directory holds a member from an earlier one.
func Bootstrapped(r *controller.Runtime) (bool, error) {
	b, err := controller.Spec[resources.EtcdBootstrapSpec](r, resources.NamespaceEtcd, resources.TypeEtcdBootstrap, resources.EtcdBootstrapID)
	if err != nil || b != nil {
		return b != nil, err
	}
	return HasMember(EtcdDataDir), nil
}

// HasMember reports whether an etcd data directory holds a member.
func HasMember(dataDir string) bool {
	_, err := os.Stat(filepath.Join(dataDir, "member"))
	return err == nil
}

// nodeOf is the node's name and its first global IPv4 address; false until it has both.
func nodeOf(r *controller.Runtime) (Node, bool, error) {
	host, err := controller.Spec[resources.HostnameStatusSpec](r, resources.NamespaceNetwork, resources.TypeHostnameStatus, resources.HostnameStatusID)
	if err != nil || host == nil || host.Hostname == "" {
		return Node{}, false, err
	}
	list, err := r.List(resources.NamespaceNetwork, resources.TypeAddressStatus)
	if err != nil {
		return Node{}, false, err
	}
	var best netip.Addr
	for _, res := range list {
		a, _ := res.Spec.(*resources.AddressStatusSpec)
		if a == nil || a.Family != "inet" || a.Scope != "global" {
			continue
		}
		p, err := netip.ParsePrefix(a.Address)
		if err == nil && (!best.IsValid() || p.Addr().Less(best)) {
			best = p.Addr()
		}
	}
	return Node{Name: host.Hostname, IP: best}, best.IsValid(), nil
}

// inputsKey digests what the files and services are made from: the services' generation,
// which restarts them when it changes (a new address needs new certificates).
func inputsKey(cfg *config.Config, node Node) string {
	sum := sha256.Sum256(fmt.Appendf(nil, "%s|%s|%s|%v|%v", node.Name, node.IP, cfg.Machine.Type, cfg.Cluster, cfg.Machine.Kubelet))
	return hex.EncodeToString(sum[:8])
}

// writeFiles issues the node's certificates and kubeconfigs and writes every file under
// Dir atomically.
func (c *Controller) writeFiles(cluster *Cluster, node Node) error {
	files := cluster.KubeletFiles()
	if cluster.ControlPlane {
		cp, err := cluster.ControlPlaneFiles(node, c.Now())
		if err != nil {
			return err
		}
		files = append(files, cp...)
	}
	for _, f := range files {
		path := filepath.Join(c.Dir, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return err
		}
		if err := atomicfile.Write(path, f.Data, os.FileMode(f.Mode)); err != nil {
			return err
		}
	}
	c.Log.WithFields(logrus.Fields{"node": node.Name, "ip": node.IP, "files": len(files)}).Info("Kubernetes certificates and kubeconfigs written")
	return nil
}
