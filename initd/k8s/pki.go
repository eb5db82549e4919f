package k8s

import (
	"fmt"
	"net/netip"
	"net/url"
	"time"

	"github.com/kiln-os/kiln/config"
)

// Where the node keeps what it derives for Kubernetes. Dir is on the /system tmpfs
// (root only): certificates and kubeconfigs are made again from the config at every boot
// and never reach a disk. The kubelet's and etcd's state is on EPHEMERAL.
const (
	Dir         = "/system/kubernetes"
	PKIDir      = Dir + "/pki"
	EtcdDataDir = "/var/lib/etcd"
	KubeletDir  = "/var/lib/kubelet"
)

// certTTL is the lifetime of the certificates made at boot: a node reboots, and so
// renews them, well within it.
const certTTL = 365 * 24 * time.Hour

// Node is what the node's identity in Kubernetes is made of.
type Node struct {
	Name string     // its hostname: the Node object's and the etcd member's name
	IP   netip.Addr // the address it is reached at
}

// File is one file the node writes for Kubernetes, relative to Dir.
type File struct {
	Path string
	Data []byte
	Mode uint32
}

// Cluster is the Kubernetes part of a config with its defaults filled in.
type Cluster struct {
	cfg            *config.Config
	Endpoint       *url.URL
	DNSDomain      string
	PodSubnet      netip.Prefix
	ServiceSubnet  netip.Prefix
	APIServiceIP   netip.Addr // the first address of the service network: the "kubernetes" service
	ClusterDNS     netip.Addr // the tenth: where a cluster DNS would answer
	ControlPlane   bool
	SchedulableCPs bool
}

// ClusterOf reads the config's Kubernetes settings; the config has been validated.
func ClusterOf(cfg *config.Config) (*Cluster, error) {
	c := &Cluster{cfg: cfg, DNSDomain: config.DefaultDNSDomain, ControlPlane: cfg.Machine.Type == config.TypeControlPlane,
		SchedulableCPs: cfg.Cluster.AllowSchedulingOnControlPlanes}
	var err error
	if c.Endpoint, err = url.Parse(cfg.Cluster.ControlPlane.Endpoint); err != nil {
		return nil, fmt.Errorf("cluster.controlPlane.endpoint: %w", err)
	}
	if d := cfg.Cluster.Network.DNSDomain; d != "" {
		c.DNSDomain = d
	}
	pods, services := config.DefaultPodSubnet, config.DefaultServiceSubnet
	if s := cfg.Cluster.Network.PodSubnets; len(s) > 0 {
		pods = s[0]
	}
	if s := cfg.Cluster.Network.ServiceSubnets; len(s) > 0 {
		services = s[0]
	}
	if c.PodSubnet, err = netip.ParsePrefix(pods); err != nil {
		return nil, fmt.Errorf("cluster.network.podSubnets: %w", err)
	}
	if c.ServiceSubnet, err = netip.ParsePrefix(services); err != nil {
		return nil, fmt.Errorf("cluster.network.serviceSubnets: %w", err)
	}
	c.APIServiceIP = nth(c.ServiceSubnet.Addr(), 1)
	c.ClusterDNS = nth(c.ServiceSubnet.Addr(), 10)
	return c, nil
}

// nth is the address n after a.
func nth(a netip.Addr, n int) netip.Addr {
	for range n {
		a = a.Next()
	}
	return a
}

// The certificates' subjects. system:masters is Kubernetes' built-in superuser group;
// the node's own programs use it as kubeadm's do.
const (
	superusers       = "system:masters"
	controllerUser   = "system:kube-controller-manager"
	schedulerUser    = "system:kube-scheduler"
	machinedUser     = "kiln:machined"
	apiserverKubelet = "kube-apiserver-kubelet-client"
	apiserverEtcd    = "kube-apiserver-etcd-client"
)

// ControlPlaneFiles are the certificates, keys and kubeconfigs of a controlplane's etcd,
// API server, controller manager and scheduler, and machined's own admin kubeconfig, made
// from the config's CAs for node.
func (c *Cluster) ControlPlaneFiles(node Node, now time.Time) ([]File, error) {
	k := c.cfg.Cluster
	saPub, err := config.PublicKeyPEM(k.ServiceAccount.Key)
	if err != nil {
		return nil, fmt.Errorf("cluster.serviceAccount.key: %w", err)
	}
	files := []File{
		{"pki/ca.crt", []byte(k.CA.Crt), 0o644},
		{"pki/ca.key", []byte(k.CA.Key), 0o600},
		{"pki/sa.key", []byte(k.ServiceAccount.Key), 0o600},
		{"pki/sa.pub", saPub, 0o644},
		{"pki/etcd/ca.crt", []byte(k.Etcd.CA.Crt), 0o644},
		{"encryption.yaml", encryptionConfig(k.SecretboxEncryptionSecret), 0o600},
	}
	issued := []struct {
		name string
		ca   config.CA
		req  config.CertRequest
	}{
		{"pki/apiserver", k.CA, config.CertRequest{CommonName: "kube-apiserver", SANs: c.apiServerSANs(node), Server: true}},
		{"pki/apiserver-kubelet-client", k.CA, config.CertRequest{CommonName: apiserverKubelet, Organization: []string{superusers}, Client: true}},
		{"pki/apiserver-etcd-client", k.Etcd.CA, config.CertRequest{CommonName: apiserverEtcd, Client: true}},
		{"pki/etcd/server", k.Etcd.CA, config.CertRequest{CommonName: node.Name, SANs: etcdSANs(node), Server: true, Client: true}},
		{"pki/etcd/peer", k.Etcd.CA, config.CertRequest{CommonName: node.Name, SANs: etcdSANs(node), Server: true, Client: true}},
		{"pki/etcd/machined", k.Etcd.CA, config.CertRequest{CommonName: machinedUser, Client: true}},
		{"admin-client", k.CA, config.CertRequest{CommonName: machinedUser, Organization: []string{superusers}, Client: true}},
	}
	for _, is := range issued {
		is.req.TTL = certTTL
		crt, key, err := config.IssueCertificate(is.ca, is.req, now)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", is.name, err)
		}
		files = append(files, File{is.name + ".crt", crt, 0o644}, File{is.name + ".key", key, 0o600})
	}
	local := &url.URL{Scheme: "https", Host: "127.0.0.1:6443"}
	for _, kc := range []struct{ name, user, group string }{
		{"controller-manager.kubeconfig", controllerUser, ""},
		{"scheduler.kubeconfig", schedulerUser, ""},
		{"admin.kubeconfig", machinedUser, superusers},
	} {
		data, err := c.clientKubeconfig(local, kc.user, kc.group, now)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", kc.name, err)
		}
		files = append(files, File{kc.name, data, 0o600})
	}
	return files, nil
}

// apiServerSANs are every name the API server is reached by: the service's DNS names and
// address, loopback, the node's address and name, the endpoint's host and the config's
// extra names.
func (c *Cluster) apiServerSANs(node Node) []string {
	sans := []string{"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc." + c.DNSDomain,
		"localhost", "127.0.0.1", c.APIServiceIP.String(), node.IP.String(), c.Endpoint.Hostname()}
	if node.Name != "" {
		sans = append(sans, node.Name)
	}
	return dedupe(append(sans, c.cfg.Cluster.APIServer.CertSANs...))
}

func etcdSANs(node Node) []string {
	return dedupe([]string{"localhost", "127.0.0.1", node.IP.String(), node.Name})
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// clientKubeconfig is a kubeconfig for server with a fresh client certificate for user
// (in group, when given) signed by the cluster CA.
func (c *Cluster) clientKubeconfig(server *url.URL, user, group string, now time.Time) ([]byte, error) {
	req := config.CertRequest{CommonName: user, Client: true, TTL: certTTL}
	if group != "" {
		req.Organization = []string{group}
	}
	crt, key, err := config.IssueCertificate(c.cfg.Cluster.CA, req, now)
	if err != nil {
		return nil, err
	}
	return Kubeconfig{Cluster: c.cfg.Cluster.Name, Server: server.String(), CA: c.cfg.Cluster.CA.Crt, User: user, Crt: string(crt), Key: string(key)}.Bytes(), nil
}

// AdminKubeconfig is a kubeconfig for an administrator (kilnctl kubeconfig): a client
// certificate for user in system:masters, valid for ttl, for the cluster's endpoint.
func (c *Cluster) AdminKubeconfig(user string, ttl time.Duration, now time.Time) ([]byte, error) {
	crt, key, err := config.IssueCertificate(c.cfg.Cluster.CA, config.CertRequest{CommonName: user, Organization: []string{superusers}, Client: true, TTL: ttl}, now)
	if err != nil {
		return nil, err
	}
	name := c.cfg.Cluster.Name
	if name == "" {
		name = config.DefaultClusterName
	}
	return Kubeconfig{Cluster: name, Server: c.Endpoint.String(), CA: c.cfg.Cluster.CA.Crt, User: user, Crt: string(crt), Key: string(key)}.Bytes(), nil
}

// KubeletFiles are what the kubelet starts from on every node: the cluster CA, a
// bootstrap kubeconfig with the bootstrap token (the kubelet trades it for its own
// certificate) and its config file.
func (c *Cluster) KubeletFiles() []File {
	k := c.cfg.Cluster
	bootstrap := Kubeconfig{Cluster: k.Name, Server: c.Endpoint.String(), CA: k.CA.Crt, User: "kubelet-bootstrap", Token: k.Token}
	return []File{
		{"kubelet/ca.crt", []byte(k.CA.Crt), 0o644},
		{"kubelet/bootstrap.kubeconfig", bootstrap.Bytes(), 0o600},
		{"kubelet/config.yaml", c.kubeletConfig(), 0o644},
	}
}

// encryptionConfig has the API server encrypt Secrets at rest with secretbox (the
// apiserver.config.k8s.io EncryptionConfiguration).
func encryptionConfig(secret string) []byte {
	return fmt.Appendf(nil, `apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources: [secrets]
    providers:
      - secretbox:
          keys:
            - name: key1
              secret: %s
      - identity: {}
`, secret)
}
