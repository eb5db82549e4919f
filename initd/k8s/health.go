package k8s

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kiln-os/kiln/config"
	"github.com/kiln-os/kiln/initd/containers"
	"github.com/kiln-os/kiln/initd/resources"
	"github.com/kiln-os/kiln/internal/httpget"
	"github.com/kiln-os/kiln/internal/kubepayload"
)

// Health checks Kubernetes from this node every Interval and publishes
// k8s/KubernetesStatus: on a controlplane etcd's /health and the API server's /readyz,
// and on every node its Node's Ready condition. It speaks HTTPS with the node's own
// certificates; it needs no Kubernetes client library. What must follow a service coming
// up is SetupController's.
type Health struct {
	Store    *resources.Store
	Owner    string
	Interval time.Duration
	Log      logrus.FieldLogger
}

// Run checks until ctx ends.
func (h *Health) Run(ctx context.Context) {
	tick := time.NewTicker(h.Interval)
	defer tick.Stop()
	for {
		h.check(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (h *Health) check(ctx context.Context) {
	cfg := h.config()
	if cfg == nil || !cfg.Kubernetes() {
		return
	}
	kubelet, err := h.Store.Get(resources.NamespaceK8s, resources.TypeKubeletSpec, resources.KubeletSpecID)
	if err != nil {
		return
	}
	spec, _ := kubelet.Spec.(*resources.KubeletSpecSpec)
	if spec == nil {
		return
	}
	st := &resources.KubernetesStatusSpec{Checked: time.Now().UTC()}
	if cfg.Machine.Type == config.TypeControlPlane {
		st.Etcd = problem(within(ctx, etcdHealthy))
		st.APIServer = problem(within(ctx, apiServerReady))
		st.Node = problem(within(ctx, func(ctx context.Context) error {
			return nodeReady(ctx, "https://127.0.0.1:"+apiServerPort, spec.NodeName, pki("ca.crt"), Dir+"/admin-client")
		}))
	} else {
		st.Node = problem(within(ctx, func(ctx context.Context) error {
			return nodeReady(ctx, spec.Endpoint, spec.NodeName, Dir+"/kubelet/ca.crt", KubeletDir+"/pki/kubelet-client-current.pem")
		}))
	}
	// Not ctx: slow checks may have used it up, and the status must still go out.
	if _, err := h.Store.Set(context.Background(), resources.NamespaceK8s, resources.TypeKubernetesStatus, resources.KubernetesStatusID, h.Owner, st); err != nil {
		h.Log.WithError(err).Warn("publish the Kubernetes status")
	}
}

// ImportSandbox puts the payload's sandbox image into the CRI containerd's k8s.io
// namespace, where the CRI plugin looks for its pinned sandbox image.
func ImportSandbox(ctx context.Context) error {
	f, err := os.Open(PayloadDir + "/" + kubepayload.SandboxImage)
	if err != nil {
		return err
	}
	defer f.Close()
	client, err := containers.New(CRISocket, containers.WithNamespace(criNamespace))
	if err != nil {
		return err
	}
	defer client.Close()
	_, err = client.Import(ctx, f, 64<<20)
	return err
}

// criNamespace is the containerd namespace of CRI's pods and images.
const criNamespace = "k8s.io"

func (h *Health) config() *config.Config {
	res, err := h.Store.Get(resources.NamespaceConfig, resources.TypeMachineConfig, resources.MachineConfigID)
	if err != nil {
		return nil
	}
	spec, _ := res.Spec.(*resources.MachineConfigSpec)
	if spec == nil {
		return nil
	}
	return spec.Config
}

// checkTimeout bounds one check.
const checkTimeout = 5 * time.Second

func within(ctx context.Context, check func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	return check(ctx)
}

func problem(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// httpsClient trusts caFile and presents the certificate and key in certFile and keyFile
// (one file holding both when keyFile is "").
func httpsClient(caFile, certFile, keyFile string) (*http.Client, error) {
	ca, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("%s: no certificate", caFile)
	}
	if keyFile == "" {
		keyFile = certFile
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		DisableKeepAlives: true,
	}}, nil
}

// etcdHealthy asks the local member's /health (etcd's client port, machined's client
// certificate).
func etcdHealthy(ctx context.Context) error {
	client, err := httpsClient(pki("etcd/ca.crt"), pki("etcd/machined.crt"), pki("etcd/machined.key"))
	if err != nil {
		return err
	}
	body, err := httpget.Get(ctx, client, "https://127.0.0.1:"+etcdClientPort+"/health", httpget.Upto(1<<20))
	if err != nil {
		return err
	}
	var health struct {
		Health string `json:"health"`
		Reason string `json:"reason"`
	}
	if err := json.Unmarshal(body, &health); err != nil {
		return fmt.Errorf("etcd /health: %w", err)
	}
	if health.Health != "true" {
		return fmt.Errorf("etcd is not healthy: %s", health.Reason)
	}
	return nil
}

// apiServerReady asks the local API server's /readyz.
func apiServerReady(ctx context.Context) error {
	client, err := httpsClient(pki("ca.crt"), Dir+"/admin-client.crt", Dir+"/admin-client.key")
	if err != nil {
		return err
	}
	_, err = httpget.Get(ctx, client, "https://127.0.0.1:"+apiServerPort+"/readyz", httpget.Upto(1<<20))
	return err
}

// nodeReady reads the Node's Ready condition from the API server at server.
func nodeReady(ctx context.Context, server, name, caFile, credentials string) error {
	certFile, keyFile := credentials, ""
	if !strings.HasSuffix(credentials, ".pem") {
		certFile, keyFile = credentials+".crt", credentials+".key"
	}
	client, err := httpsClient(caFile, certFile, keyFile)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("the kubelet has no client certificate yet (it joins with the bootstrap token): %w", err)
		}
		return err
	}
	body, err := httpget.Get(ctx, client, strings.TrimSuffix(server, "/")+"/api/v1/nodes/"+name, httpget.Upto(1<<20))
	if err != nil {
		return err
	}
	return readyCondition(body)
}

// readyCondition is nil when a Node object's Ready condition is True.
func readyCondition(node []byte) error {
	var n struct {
		Status struct {
			Conditions []struct {
				Type, Status, Reason, Message string
			} `json:"conditions"`
		} `json:"status"`
	}
	if err := json.Unmarshal(node, &n); err != nil {
		return fmt.Errorf("node object: %w", err)
	}
	for _, c := range n.Status.Conditions {
		if c.Type == "Ready" {
			if c.Status == "True" {
				return nil
			}
			return fmt.Errorf("node not ready: %s: %s", c.Reason, c.Message)
		}
	}
	return errors.New("node has no Ready condition yet")
}
