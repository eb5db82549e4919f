package k8s

import (
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"

	"github.com/kiln-os/kiln/initd/resources"
	"github.com/kiln-os/kiln/internal/kubepayload"
)

// Paths of the mounted payload.
var (
	PayloadDir = "/" + kubepayload.MountPoint
	BinDir     = PayloadDir + "/" + kubepayload.BinDir
)

// CRISocket is the CRI containerd's socket (kubernetes/containerd-cri.toml).
const CRISocket = "/run/containerd-cri/containerd.sock"

// servicePath puts the payload's programs first: the kubelet runs mount and umount from
// it, the CRI containerd finds the runc shim and runc in the root after it.
var servicePath = []string{"PATH=" + BinDir + ":/sbin:/usr/sbin:/bin:/usr/bin"}

// Ports the services listen on, and their health endpoints (loopback only).
const (
	etcdClientPort = "2379"
	etcdPeerPort   = "2380"
	etcdMetrics    = "127.0.0.1:2381"
	apiServerPort  = "6443"
	controllerPort = "10257"
	schedulerPort  = "10259"
	kubeletHealthz = "10248"
	proxyHealthz   = "127.0.0.1:10256"
	proxyMetrics   = "127.0.0.1:10249"
	routesHealthz  = "127.0.0.1:10266"
)

// startTimeout is how long a Kubernetes service may take to be healthy before its run is
// restarted. Generous: under emulation (TCG) on two cores the API server is ready minutes
// after it starts; a post-start hook that failed (its readiness never comes) still gets
// it restarted.
const startTimeout = 10 * 60

// failureThreshold is how many failed health checks in a row (5 s apart) restart a
// Kubernetes service that was healthy: 80 s, as kubeadm's liveness probes (8 × 10 s). A
// control plane under load misses checks; the default 3 restarted a healthy API server
// when workers joined under TCG, and its restart (minutes of post-start hooks) made the
// load worse until the hooks timed out (make cluster-test, 2026-12-07).
const failureThreshold = 16

// Service names.
const (
	ServiceEtcd       = "etcd"
	ServiceAPIServer  = "kube-apiserver"
	ServiceController = "kube-controller-manager"
	ServiceScheduler  = "kube-scheduler"
	ServiceCRI        = "containerd-cri"
	ServiceKubelet    = "kubelet"
	ServiceProxy      = "kube-proxy"
	ServiceRoutes     = "pod-routes"
)

// args renders flags as --name=value, sorted by name, after applying extra (the config's
// extraArgs: they add flags or replace Kiln's).
func args(program string, flags, extra map[string]string) []string {
	all := maps.Clone(flags)
	maps.Copy(all, extra)
	argv := []string{BinDir + "/" + program}
	for _, name := range slices.Sorted(maps.Keys(all)) {
		argv = append(argv, "--"+name+"="+all[name])
	}
	return argv
}

func pki(name string) string { return PKIDir + "/" + name }

// EtcdSpec is how etcd runs on this controlplane: one member named after the node, TLS
// for clients and peers from the etcd CA. Bootstrapped says whether it may start.
func (c *Cluster) EtcdSpec(node Node, bootstrapped bool) resources.EtcdSpecSpec {
	peer := "https://" + net.JoinHostPort(node.IP.String(), etcdPeerPort)
	client := "https://" + net.JoinHostPort(node.IP.String(), etcdClientPort)
	flags := map[string]string{
		"name":                        node.Name,
		"data-dir":                    EtcdDataDir,
		"listen-peer-urls":            peer,
		"listen-client-urls":          "https://127.0.0.1:" + etcdClientPort + "," + client,
		"advertise-client-urls":       client,
		"initial-advertise-peer-urls": peer,
		"initial-cluster":             node.Name + "=" + peer,
		"initial-cluster-state":       "new",
		"client-cert-auth":            "true",
		"trusted-ca-file":             pki("etcd/ca.crt"),
		"cert-file":                   pki("etcd/server.crt"),
		"key-file":                    pki("etcd/server.key"),
		"peer-client-cert-auth":       "true",
		"peer-trusted-ca-file":        pki("etcd/ca.crt"),
		"peer-cert-file":              pki("etcd/peer.crt"),
		"peer-key-file":               pki("etcd/peer.key"),
		"listen-metrics-urls":         "http://" + etcdMetrics,
	}
	extra := c.cfg.Cluster.Etcd.ExtraArgs
	return resources.EtcdSpecSpec{
		Name: node.Name, AdvertisePeerURL: peer, AdvertiseClientURL: client, Bootstrapped: bootstrapped,
		DataDir: EtcdDataDir, Args: args("etcd", flags, extra), ExtraArgs: extra,
	}
}

func (c *Cluster) apiServerArgs(node Node) []string {
	flags := map[string]string{
		"advertise-address":                node.IP.String(),
		"secure-port":                      apiServerPort,
		"allow-privileged":                 "true",
		"authorization-mode":               "Node,RBAC",
		"enable-admission-plugins":         "NodeRestriction",
		"enable-bootstrap-token-auth":      "true",
		"client-ca-file":                   pki("ca.crt"),
		"tls-cert-file":                    pki("apiserver.crt"),
		"tls-private-key-file":             pki("apiserver.key"),
		"kubelet-client-certificate":       pki("apiserver-kubelet-client.crt"),
		"kubelet-client-key":               pki("apiserver-kubelet-client.key"),
		"etcd-servers":                     "https://127.0.0.1:" + etcdClientPort,
		"etcd-cafile":                      pki("etcd/ca.crt"),
		"etcd-certfile":                    pki("apiserver-etcd-client.crt"),
		"etcd-keyfile":                     pki("apiserver-etcd-client.key"),
		"service-cluster-ip-range":         c.ServiceSubnet.String(),
		"service-account-issuer":           "https://kubernetes.default.svc." + c.DNSDomain,
		"service-account-key-file":         pki("sa.pub"),
		"service-account-signing-key-file": pki("sa.key"),
		"encryption-provider-config":       Dir + "/encryption.yaml",
		"profiling":                        "false",
		"kubelet-preferred-address-types":  "InternalIP,Hostname",
		"tls-min-version":                  "VersionTLS12",
		"anonymous-auth":                   "true", // /readyz and /livez for health checks, as kubeadm
		"api-audiences":                    "https://kubernetes.default.svc." + c.DNSDomain,
	}
	return args("kube-apiserver", flags, c.cfg.Cluster.APIServer.ExtraArgs)
}

func (c *Cluster) controllerManagerArgs() []string {
	kubeconfig := Dir + "/controller-manager.kubeconfig"
	flags := map[string]string{
		"kubeconfig":                       kubeconfig,
		"authentication-kubeconfig":        kubeconfig,
		"authorization-kubeconfig":         kubeconfig,
		"bind-address":                     "127.0.0.1",
		"secure-port":                      controllerPort,
		"use-service-account-credentials":  "true",
		"service-account-private-key-file": pki("sa.key"),
		"root-ca-file":                     pki("ca.crt"),
		"cluster-signing-cert-file":        pki("ca.crt"),
		"cluster-signing-key-file":         pki("ca.key"),
		"allocate-node-cidrs":              "true",
		"cluster-cidr":                     c.PodSubnet.String(),
		"node-cidr-mask-size":              "24",
		"service-cluster-ip-range":         c.ServiceSubnet.String(),
		"controllers":                      "*,bootstrapsigner,tokencleaner",
		"profiling":                        "false",
	}
	return args("kube-controller-manager", flags, c.cfg.Cluster.ControllerManager.ExtraArgs)
}

func (c *Cluster) schedulerArgs() []string {
	kubeconfig := Dir + "/scheduler.kubeconfig"
	flags := map[string]string{
		"kubeconfig":                kubeconfig,
		"authentication-kubeconfig": kubeconfig,
		"authorization-kubeconfig":  kubeconfig,
		"bind-address":              "127.0.0.1",
		"secure-port":               schedulerPort,
		"profiling":                 "false",
	}
	return args("kube-scheduler", flags, c.cfg.Cluster.Scheduler.ExtraArgs)
}

// controlPlaneTaint keeps pods off a controlplane unless the config allows them.
const controlPlaneTaint = "node-role.kubernetes.io/control-plane:NoSchedule"

// KubeletSpec is how the kubelet runs on this node.
func (c *Cluster) KubeletSpec(node Node) resources.KubeletSpecSpec {
	var taints []string
	if c.ControlPlane && !c.SchedulableCPs {
		taints = append(taints, controlPlaneTaint)
	}
	flags := map[string]string{
		"config":               Dir + "/kubelet/config.yaml",
		"bootstrap-kubeconfig": Dir + "/kubelet/bootstrap.kubeconfig",
		"kubeconfig":           KubeletDir + "/kubeconfig",
		"cert-dir":             KubeletDir + "/pki",
		"root-dir":             KubeletDir,
		"hostname-override":    node.Name,
		"node-ip":              node.IP.String(),
	}
	if len(taints) > 0 {
		flags["register-with-taints"] = strings.Join(taints, ",")
	}
	extra := c.cfg.Machine.Kubelet.ExtraArgs
	return resources.KubeletSpecSpec{
		NodeName: node.Name, NodeIP: node.IP.String(), Endpoint: c.Endpoint.String(), ClusterDomain: c.DNSDomain,
		ClusterDNS: []string{c.ClusterDNS.String()}, Taints: taints, Args: args("kubelet", flags, extra), ExtraArgs: extra,
	}
}

// kubeletConfig is the kubelet's config file (kubelet.config.k8s.io/v1beta1): client
// certificates from the cluster CA and webhook authorization for its API, the cgroupfs
// driver (a Kiln node has no systemd), the CRI containerd, the node's resolvers, and
// paths off the read-only root.
func (c *Cluster) kubeletConfig() []byte {
	return fmt.Appendf(nil, `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: %s/kubelet/ca.crt
authorization:
  mode: Webhook
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://%s
clusterDomain: %s
clusterDNS:
  - %s
rotateCertificates: true
failSwapOn: false
resolvConf: /run/kiln/resolv.conf
volumePluginDir: %s/volumeplugins
healthzBindAddress: 127.0.0.1
healthzPort: %s
`, Dir, CRISocket, c.DNSDomain, c.ClusterDNS, KubeletDir, kubeletHealthz)
}

// Services are the node's Kubernetes services: the CRI containerd, the kubelet,
// kube-proxy and pod-routes (the other nodes' pod CIDRs through them) everywhere, and
// on a controlplane etcd, the API server, the controller manager and the scheduler. All
// are optional (Ready does not wait for them). hold, when set, keeps every one stopped
// and says why (the payload is not mounted); etcd is also held until the cluster is
// bootstrapped here.
func (c *Cluster) Services(node Node, etcd resources.EtcdSpecSpec, kubelet resources.KubeletSpecSpec, hold, generation string) []resources.ServiceSpecSpec {
	svc := func(name string, argv []string, health string, deps ...string) resources.ServiceSpecSpec {
		return resources.ServiceSpecSpec{Name: name, Argv: argv, Env: servicePath, Output: name, HealthHTTP: health,
			DependsOn: deps, Optional: true, Hold: hold, Generation: generation, StartTimeoutSeconds: startTimeout,
			FailureThreshold: failureThreshold}
	}
	cri := svc(ServiceCRI, []string{BinDir + "/containerd", "--config", PayloadDir + "/" + kubepayload.CRIConfig}, "")
	cri.HealthContainerd = CRISocket
	list := []resources.ServiceSpecSpec{
		cri,
		svc(ServiceKubelet, kubelet.Args, "http://127.0.0.1:"+kubeletHealthz+"/healthz", ServiceCRI),
		svc(ServiceProxy, c.proxyArgs(node), "http://"+proxyHealthz+"/healthz", ServiceKubelet),
		svc(ServiceRoutes, []string{BinDir + "/pod-routes", "--kubeconfig=" + KubeletDir + "/kubeconfig",
			"--node-name=" + node.Name, "--healthz=" + routesHealthz}, "http://"+routesHealthz+"/healthz", ServiceKubelet),
	}
	if !c.ControlPlane {
		return list
	}
	etcdSvc := svc(ServiceEtcd, etcd.Args, "http://"+etcdMetrics+"/health")
	if etcdSvc.Hold == "" && !etcd.Bootstrapped {
		etcdSvc.Hold = "waiting for the cluster to be bootstrapped: kilnctl bootstrap (once, on one controlplane)"
	}
	return append(list, etcdSvc,
		// /livez, not /readyz: the supervisor restarts a service whose check fails, and an
		// API server that is alive but not ready (etcd slow, informers resyncing) gets
		// worse from a restart; Kubernetes' own probes restart on livez only. Readiness
		// is k8s.KubernetesStatus's check.
		svc(ServiceAPIServer, c.apiServerArgs(node), "https://127.0.0.1:"+apiServerPort+"/livez", ServiceEtcd),
		svc(ServiceController, c.controllerManagerArgs(), "https://127.0.0.1:"+controllerPort+"/healthz", ServiceAPIServer),
		svc(ServiceScheduler, c.schedulerArgs(), "https://127.0.0.1:"+schedulerPort+"/healthz", ServiceAPIServer),
	)
}

// proxyArgs runs kube-proxy in its nftables mode (the payload's nft) with the kubelet's
// own credentials (the node's identity, which the bootstrap manifests bind to
// system:node-proxier), so that a worker needs no certificate of its own for it. It
// leaves the conntrack sysctls as they are.
func (c *Cluster) proxyArgs(node Node) []string {
	flags := map[string]string{
		"proxy-mode":                        "nftables",
		"kubeconfig":                        KubeletDir + "/kubeconfig",
		"hostname-override":                 node.Name,
		"cluster-cidr":                      c.PodSubnet.String(),
		"healthz-bind-address":              proxyHealthz,
		"metrics-bind-address":              proxyMetrics,
		"conntrack-max-per-core":            "0",
		"conntrack-tcp-timeout-established": "0",
		"conntrack-tcp-timeout-close-wait":  "0",
		"nodeport-addresses":                "primary",
		"profiling":                         "false",
	}
	return args("kube-proxy", flags, nil)
}
