package k8s

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kiln-os/kiln/config"
	"github.com/kiln-os/kiln/initd/resources"
	"github.com/kiln-os/kiln/initd/resources/resourcetest"
)

var (
	configsOnce      sync.Once
	testCP, testWork *config.Config
)

// configs generates a controlplane and a worker config that run Kubernetes.
func configs(t *testing.T) (*config.Config, *config.Config) {
	t.Helper()
	configsOnce.Do(func() {
		now := time.Now()
		s, err := config.GenerateSecrets(now)
		if err != nil {
			panic(err)
		}
		if s.Kubernetes, err = config.GenerateKubernetesSecrets(now); err != nil {
			panic(err)
		}
		if testCP, testWork, err = config.Generate(config.GenerateInput{Secrets: s, Endpoint: "https://10.5.0.2:6443", ClusterName: "lab"}); err != nil {
			panic(err)
		}
	})
	return testCP, testWork
}

var node = Node{Name: "cp1", IP: netip.MustParseAddr("10.5.0.2")}

func cluster(t *testing.T, cfg *config.Config) *Cluster {
	t.Helper()
	c, err := ClusterOf(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func names(svcs []resources.ServiceSpecSpec) []string {
	var out []string
	for _, s := range svcs {
		out = append(out, s.Name)
	}
	return out
}

// A controlplane runs the control plane, etcd held until bootstrap; a worker runs the CRI
// containerd and the kubelet only. Every service is optional: Ready does not wait.
func TestServices(t *testing.T) {
	cp, worker := configs(t)
	c := cluster(t, cp)
	svcs := c.Services(node, c.EtcdSpec(node, false), c.KubeletSpec(node), "", "g1")
	want := []string{ServiceCRI, ServiceKubelet, ServiceProxy, ServiceRoutes, ServiceEtcd, ServiceAPIServer, ServiceController, ServiceScheduler}
	if got := names(svcs); !slices.Equal(got, want) {
		t.Errorf("controlplane services %v, want %v", got, want)
	}
	for _, s := range svcs {
		if !s.Optional || s.Generation != "g1" {
			t.Errorf("%s: optional %v, generation %q", s.Name, s.Optional, s.Generation)
		}
		if (s.Hold != "") != (s.Name == ServiceEtcd) || (s.Name == ServiceEtcd && !strings.Contains(s.Hold, "kilnctl bootstrap")) {
			t.Errorf("%s: hold %q; only etcd waits, for kilnctl bootstrap", s.Name, s.Hold)
		}
	}
	if got := c.Services(node, c.EtcdSpec(node, true), c.KubeletSpec(node), "", "g1"); got[3].Hold != "" {
		t.Errorf("a bootstrapped etcd is held: %q", got[2].Hold)
	}
	held := c.Services(node, c.EtcdSpec(node, true), c.KubeletSpec(node), "payload refused: digest", "g1")
	for _, s := range held {
		if s.Hold != "payload refused: digest" {
			t.Errorf("%s runs with the payload refused (hold %q)", s.Name, s.Hold)
		}
	}
	w := cluster(t, worker)
	if got := names(w.Services(node, resources.EtcdSpecSpec{}, w.KubeletSpec(node), "", "g")); !slices.Equal(got, []string{ServiceCRI, ServiceKubelet, ServiceProxy, ServiceRoutes}) {
		t.Errorf("worker services %v", got)
	}
}

// The config's extraArgs add flags and replace Kiln's; the controlplane is tainted
// unless the config allows pods there.
func TestArgs(t *testing.T) {
	cp, _ := configs(t)
	edited := *cp
	edited.Cluster.Etcd.ExtraArgs = map[string]string{"heartbeat-interval": "500", "data-dir": "/var/lib/other"}
	edited.Machine.Kubelet.ExtraArgs = map[string]string{"node-status-update-frequency": "20s"}
	c := cluster(t, &edited)
	etcd := c.EtcdSpec(node, true)
	if !slices.Contains(etcd.Args, "--heartbeat-interval=500") || !slices.Contains(etcd.Args, "--data-dir=/var/lib/other") || slices.Contains(etcd.Args, "--data-dir="+EtcdDataDir) {
		t.Errorf("etcd args %v", etcd.Args)
	}
	kubelet := c.KubeletSpec(node)
	if !slices.Contains(kubelet.Args, "--node-status-update-frequency=20s") || !slices.Contains(kubelet.Args, "--register-with-taints="+controlPlaneTaint) {
		t.Errorf("kubelet args %v", kubelet.Args)
	}
	edited.Cluster.AllowSchedulingOnControlPlanes = true
	if args := cluster(t, &edited).KubeletSpec(node).Args; slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "--register-with-taints") }) {
		t.Errorf("taint with allowSchedulingOnControlPlanes: %v", args)
	}
}

func parseCert(t *testing.T, files []File, path string) *x509.Certificate {
	t.Helper()
	for _, f := range files {
		if f.Path == path {
			block, _ := pem.Decode(f.Data)
			crt, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			return crt
		}
	}
	t.Fatalf("no %s", path)
	return nil
}

// The API server's certificate names every way it is reached; etcd's come from etcd's CA.
func TestControlPlaneFiles(t *testing.T) {
	cp, _ := configs(t)
	files, err := cluster(t, cp).ControlPlaneFiles(node, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	api := parseCert(t, files, "pki/apiserver.crt")
	var ips []string
	for _, ip := range api.IPAddresses {
		ips = append(ips, ip.String())
	}
	for _, want := range []string{"10.96.0.1", "10.5.0.2", "127.0.0.1"} {
		if !slices.Contains(ips, want) {
			t.Errorf("apiserver certificate lacks %s: %v", want, ips)
		}
	}
	if !slices.Contains(api.DNSNames, "kubernetes.default.svc.cluster.local") {
		t.Errorf("apiserver DNS names %v", api.DNSNames)
	}
	if etcd := parseCert(t, files, "pki/etcd/server.crt"); etcd.Issuer.CommonName != "etcd" {
		t.Errorf("etcd server certificate issued by %q, want etcd's CA", etcd.Issuer.CommonName)
	}
	for _, f := range files {
		if strings.HasSuffix(f.Path, ".key") && f.Mode != 0o600 {
			t.Errorf("%s has mode %o", f.Path, f.Mode)
		}
	}
}

func TestParseMembers(t *testing.T) {
	out := `{"header":{"cluster_id":"abc"},"members":[{"ID":"8e9e05c52164694d","name":"cp1","peerURLs":["https://10.5.0.2:2380"],"clientURLs":["https://10.5.0.2:2379"]}]}`
	members, err := parseMembers([]byte(out))
	if err != nil || len(members) != 1 || members[0].ID != "8e9e05c52164694d" || members[0].Name != "cp1" || members[0].ClientURLs[0] != "https://10.5.0.2:2379" {
		t.Errorf("parseMembers = %+v, %v", members, err)
	}
	if _, err := parseMembers([]byte("not json")); err == nil {
		t.Error("parseMembers accepted garbage")
	}
}

func TestReadyCondition(t *testing.T) {
	if err := readyCondition([]byte(`{"status":{"conditions":[{"type":"Ready","status":"True"}]}}`)); err != nil {
		t.Error(err)
	}
	err := readyCondition([]byte(`{"status":{"conditions":[{"type":"Ready","status":"False","reason":"KubeletNotReady","message":"cni not initialized"}]}}`))
	if err == nil || !strings.Contains(err.Error(), "cni not initialized") {
		t.Errorf("not ready: %v", err)
	}
}

func TestBootstrapManifests(t *testing.T) {
	m := string(bootstrapManifests("abcdef", "0123456789abcdef"))
	for _, want := range []string{"name: bootstrap-token-abcdef", `token-secret: "0123456789abcdef"`, "system:certificates.k8s.io:certificatesigningrequests:nodeclient", "system:node-proxier", bootstrapGroup} {
		if !strings.Contains(m, want) {
			t.Errorf("manifests lack %q", want)
		}
	}
	// The token comes last: a kubelet's first request must find the approving bindings.
	if strings.Index(m, "kind: Secret") < strings.LastIndex(m, "kind: ClusterRoleBinding") {
		t.Error("the token's Secret comes before a binding")
	}
}

func adminWith(t *testing.T, cfg *config.Config, payload string) *Admin {
	t.Helper()
	store := resources.New(resources.Config{})
	resourcetest.Set(t, store, resources.NamespaceConfig, resources.TypeMachineConfig, resources.MachineConfigID, &resources.MachineConfigSpec{Config: cfg})
	resourcetest.Set(t, store, resources.NamespaceK8s, resources.TypePayloadStatus, resources.PayloadStatusID, &resources.PayloadStatusSpec{State: payload, Reason: "digest differs"})
	return &Admin{Store: store, Now: time.Now, Owner: "machined", DataDir: filepath.Join(t.TempDir(), "etcd"),
		Run: func(context.Context, []string, []string, []byte, io.Writer) ([]byte, error) {
			return nil, errors.New("not here")
		}}
}

// Bootstrap runs once; a worker, a refused payload and a second call are refused with
// what to do.
func TestBootstrap(t *testing.T) {
	cp, worker := configs(t)
	a := adminWith(t, cp, resources.PayloadMounted)
	if err := a.Bootstrap(context.Background(), "admin"); err != nil {
		t.Fatal(err)
	}
	if err := a.Bootstrap(context.Background(), "admin"); !errors.Is(err, ErrAlreadyBootstrapped) {
		t.Errorf("second bootstrap: %v, want ErrAlreadyBootstrapped", err)
	}
	if err := adminWith(t, worker, resources.PayloadMounted).Bootstrap(context.Background(), "admin"); !errors.Is(err, ErrPrecondition) || !strings.Contains(err.Error(), "worker") {
		t.Errorf("worker: %v", err)
	}
	if err := adminWith(t, cp, resources.PayloadRefused).Bootstrap(context.Background(), "admin"); !errors.Is(err, ErrPrecondition) || !strings.Contains(err.Error(), "digest differs") {
		t.Errorf("refused payload: %v", err)
	}
	kc, err := a.Kubeconfig("alice", time.Hour)
	if err != nil || !strings.Contains(string(kc), "server: \"https://10.5.0.2:6443\"") {
		t.Errorf("kubeconfig: %v\n%s", err, kc)
	}
}

// Recover restores a snapshot with the payload's etcdutl into a directory that becomes
// etcd's data directory only when the restore succeeded; a refused snapshot leaves
// nothing behind and the node may still be bootstrapped.
func TestRecover(t *testing.T) {
	cp, _ := configs(t)
	a := adminWith(t, cp, resources.PayloadMounted)
	a.SnapshotDir = t.TempDir()
	resourcetest.Set(t, a.Store, resources.NamespaceEtcd, resources.TypeEtcdSpec, resources.EtcdSpecID,
		&resources.EtcdSpecSpec{Name: "cp1", AdvertisePeerURL: "https://10.5.0.2:2380"})
	var argv []string
	refuse := true
	a.Run = func(_ context.Context, cmd []string, _ []string, _ []byte, _ io.Writer) ([]byte, error) {
		argv = cmd
		var dataDir string
		for _, arg := range cmd {
			if v, ok := strings.CutPrefix(arg, "--data-dir="); ok {
				dataDir = v
			}
		}
		// etcdutl writes the member directory as it goes, even when it then fails.
		if err := os.MkdirAll(filepath.Join(dataDir, "member", "snap"), 0o700); err != nil {
			return nil, err
		}
		if refuse {
			return nil, errors.New("etcdutl: snapshot file integrity check failed")
		}
		return nil, nil
	}
	leftovers := func() []string {
		var left []string
		for _, dir := range []string{a.SnapshotDir, filepath.Dir(a.DataDir)} {
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				left = append(left, e.Name())
			}
		}
		return left
	}

	if _, _, err := a.Recover(context.Background(), strings.NewReader(""), "admin"); !errors.Is(err, ErrBadSnapshot) {
		t.Errorf("empty snapshot: %v, want ErrBadSnapshot", err)
	}
	if _, _, err := a.Recover(context.Background(), strings.NewReader("changed snapshot"), "admin"); !errors.Is(err, ErrBadSnapshot) || !strings.Contains(err.Error(), "integrity") {
		t.Errorf("refused snapshot: %v, want ErrBadSnapshot with etcdutl's reason", err)
	}
	if HasMember(a.DataDir) || len(leftovers()) != 0 {
		t.Errorf("a refused snapshot left %v", leftovers())
	}
	if _, err := a.Store.Get(resources.NamespaceEtcd, resources.TypeEtcdBootstrap, resources.EtcdBootstrapID); err == nil {
		t.Error("a refused snapshot recorded a bootstrap")
	}

	refuse = false
	n, sum, err := a.Recover(context.Background(), strings.NewReader("good snapshot"), "admin")
	if err != nil || n != int64(len("good snapshot")) {
		t.Fatalf("Recover = %d, %v", n, err)
	}
	for _, want := range []string{"snapshot", "restore", "--name=cp1", "--initial-cluster=cp1=https://10.5.0.2:2380", "--initial-advertise-peer-urls=https://10.5.0.2:2380", "--mark-compacted"} {
		if !slices.Contains(argv, want) {
			t.Errorf("etcdutl %q lacks %q", argv, want)
		}
	}
	if !HasMember(a.DataDir) {
		t.Error("the data directory holds no member after the recovery")
	}
	if left := leftovers(); len(left) != 1 || left[0] != filepath.Base(a.DataDir) {
		t.Errorf("after the recovery: %v, want only the data directory", left)
	}
	res, err := a.Store.Get(resources.NamespaceEtcd, resources.TypeEtcdBootstrap, resources.EtcdBootstrapID)
	if spec, _ := res.Spec.(*resources.EtcdBootstrapSpec); err != nil || spec == nil || spec.Snapshot != sum || spec.By != "admin" {
		t.Errorf("bootstrap record %+v, %v; want the snapshot's digest %s", res.Spec, err, sum)
	}
	if _, _, err := a.Recover(context.Background(), strings.NewReader("good snapshot"), "admin"); !errors.Is(err, ErrAlreadyBootstrapped) {
		t.Errorf("second recovery: %v, want ErrAlreadyBootstrapped", err)
	}
}
