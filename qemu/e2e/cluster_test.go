package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kiln-os/kiln/internal/oracle"
	"github.com/kiln-os/kiln/qemu"
	"github.com/kiln-os/kiln/qemu/lab"
)

// clusterVersion is the release the controlplane is upgraded to in TestCluster.
const clusterVersion = "0.1.3-e2e"

// TestCluster is `make cluster-test` (issue 18), by hand and not in CI: three VMs under
// TCG on two host cores take about half an hour. On a lab network one controlplane
// (UEFI, Secure Boot, TPM) and two workers (disk, TPM) form one cluster: the workers get
// their API certificates from the controlplane's trustd and their kubelets join with the
// bootstrap token. A Deployment of the test's own image spreads over both workers, and a
// NodePort Service on the controlplane, which runs no pod, reaches them across the nodes
// (pod-routes). Then the controlplane is upgraded over the API to another release: it
// comes back with its etcd data (EPHEMERAL kept), so the API server serves the same
// cluster without a new bootstrap and the workload is still there.
// Timings go to _out/qemu-logs/cluster.json (ci/cluster-test.sh puts them into
// docs/benchmarks.md).
func TestCluster(t *testing.T) {
	if os.Getenv("KILN_CLUSTER") == "" {
		t.Skip("three VMs for half an hour: run `make cluster-test`")
	}
	img := requireUEFI(t)
	oracle.Require(t, "unsquashfs", "squashfs-tools")
	base := img.manifest.Version
	work := t.TempDir()
	// Built before any VM runs: the build and three guests would share two cores.
	upgradeUKI := buildVariant(t, img, clusterVersion, filepath.Join(img.out, "..", "_keys"))
	l := lab.ForTest(t)
	names := []string{"cp", "w1", "w2"}
	addrs := map[string]string{"cp": labAddr(t, 10), "w1": labAddr(t, 11), "w2": labAddr(t, 12)}
	c := ctl{t: t, bin: buildKilnctl(t, work), config: filepath.Join(work, "kiln-config"), lab: l, node: addrs["cp"]}
	c.must("gen", "config", "--name", "e2e", "--endpoint", "https://"+addrs["cp"]+":6443", "--out", work) // ctl uses the context e2e
	configs := map[string]string{}
	for _, name := range names {
		file := "worker.yaml"
		if name == "cp" {
			file = "controlplane.yaml"
		}
		cfg := loadConfig(t, work, file)
		staticAddress(cfg, addrs[name])
		if name == "cp" {
			cfg.Cluster.Etcd.ExtraArgs = map[string]string{"heartbeat-interval": "500", "election-timeout": "5000"}
		}
		configs[name] = saveConfig(t, work, name+".yaml", cfg)
	}
	kubectl := payloadKubectl(t, artifact(t, img, "kubernetes-payload"), work)
	good, _, _ := helloArchives(t, work)

	ctx, cancel := context.WithTimeout(context.Background(), 75*time.Minute)
	defer cancel()
	vms := map[string]*qemu.VM{}
	boot := func(name string) {
		tap, err := l.AddTap(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		disk := filepath.Join(work, name+".raw")
		copySparse(t, artifact(t, img, "disk"), disk)
		opts := []qemu.Option{qemu.WithDisk(disk), qemu.WithTPM(filepath.Join(work, "tpm-"+name)),
			qemu.WithLabNIC(tap.Netns, tap.Name, tap.MAC), qemu.WithExtraArgs("-fw_cfg", "name=opt/kiln/config,file="+configs[name])}
		if name == "cp" {
			// UEFI with Secure Boot: the upgrade boots the new UKI through systemd-boot.
			vms[name] = startUEFIBare(t, img, "cluster-"+name, append(opts, qemu.WithUEFI(ovmfCode, ovmfSetupVars),
				qemu.WithMemory(3072), qemu.WithCPUs(2))...)
			return
		}
		// Niced: a worker's kubelet can wait, the controlplane's etcd and API server
		// cannot (starved, they miss their deadlines and restart).
		vms[name] = start(t, ctx, img, "cluster-"+name, img.cmdline, append(opts, qemu.WithMemory(2048), qemu.WithNice(10))...)
	}
	on := func(name string) ctl { n := c; n.node = addrs[name]; return n }
	logs := filepath.Join(img.out, "qemu-logs")
	timings := map[string]float64{}
	started := time.Now()
	// Each step's time is written as it is taken: a failed run still reports how far it
	// got and how long that took.
	record := filepath.Join(img.out, "qemu-logs", "cluster.json")
	mark := func(name string, since time.Time) {
		timings[name] = time.Since(since).Seconds()
		t.Logf("timing %s: %.1f s", name, timings[name])
		data, _ := json.MarshalIndent(timings, "", "  ")
		os.WriteFile(record, data, 0o644)
	}

	// The controlplane first, bootstrapped, to its node Ready; only then the workers: under
	// TCG on two cores, workers booting beside a control plane that is starting starve it
	// (its etcd requests time out, a post-start hook of the API server gives up), and the
	// cluster takes longer than one after the other.
	boot("cp")
	waitReadyEvent(t, ctx, vms["cp"])
	mark("controlplaneBootToReady", started)
	c.must("bootstrap")
	bootstrapped := time.Now()
	kc := filepath.Join(work, "kubeconfig")
	c.must("kubeconfig", kc)
	k := func(args ...string) (string, error) {
		full := append([]string{"kubectl", "--kubeconfig", kc, "--request-timeout", "30s"}, args...)
		out, err := l.Command(ctx, kubectl, full...).CombinedOutput()
		t.Logf("kubectl %s\n%s", strings.Join(args, " "), truncate(string(out), 1500))
		return string(out), err
	}
	// withState lists the NAME of each NAME=STATE line of kubectl's output whose STATE is
	// state (nothing when kubectl failed).
	withState := func(state string, args ...string) []string {
		out, err := k(args...)
		if err != nil {
			return nil
		}
		var names []string
		for _, line := range strings.Fields(out) {
			if name, ok := strings.CutSuffix(line, "="+state); ok {
				names = append(names, name)
			}
		}
		slices.Sort(names)
		return names
	}
	readyNodes := func() []string {
		return withState("True", "get", "nodes", "-o", `jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}`)
	}
	waitUntil(t, "the controlplane's node Ready", logs, 5*time.Second, 20*time.Minute, func() bool { return len(readyNodes()) == 1 })
	mark("bootstrapToControlplaneNodeReady", bootstrapped)
	cpNode := readyNodes()[0]

	workersStarted := time.Now()
	boot("w1")
	boot("w2")
	for _, w := range []string{"w1", "w2"} {
		waitBoot(t, ctx, vms[w], 0)
	}
	mark("workersBootToReady", workersStarted)
	// trustd on the controlplane gave each worker its API certificate.
	if out := c.must("-n", addrs["w1"]+","+addrs["w2"], "version"); strings.Count(out, ": VERSION ") != 2 {
		t.Fatalf("kilnctl version on both workers:\n%s", out)
	}
	waitUntil(t, "three nodes Ready", logs, 5*time.Second, 20*time.Minute, func() bool { return len(readyNodes()) == 3 })
	mark("workersBootToThreeNodesReady", workersStarted)
	mark("bootstrapToThreeNodesReady", bootstrapped)

	// The workload: two replicas, one per worker (the controlplane is tainted), from the
	// test's own image imported into each worker's CRI containerd.
	for _, w := range []string{"w1", "w2"} {
		runLong(t, on(w), 10*time.Minute, "image", "import", "--kubernetes", good) // a niced one-vCPU worker takes minutes
	}
	manifest := filepath.Join(work, "hello.yaml")
	os.WriteFile(manifest, fmt.Appendf(nil, clusterWorkload, helloRef, helloPort, helloPort, helloNodePort), 0o644)
	applied := time.Now()
	if _, err := k("apply", "-f", manifest); err != nil {
		t.Fatal(err)
	}
	podNodes := func() []string { // the nodes of the Running hello pods
		return withState("Running", "get", "pods", "-l", "app=hello", "-o", `jsonpath={range .items[*]}{.spec.nodeName}={.status.phase}{"\n"}{end}`)
	}
	waitUntil(t, "a hello pod Running on each worker", logs, 5*time.Second, 10*time.Minute, func() bool {
		got := podNodes()
		return len(got) == 2 && got[0] != got[1]
	})
	mark("applyToPodsRunning", applied)
	if slices.Contains(podNodes(), cpNode) {
		t.Errorf("a hello pod runs on the controlplane %s (it is tainted)", cpNode)
	}
	// The controlplane runs no hello pod: every answer on its node port crossed to a
	// worker's pod (kube-proxy's DNAT, then the controlplane's route to that worker's pod
	// CIDR), and both pods answer.
	web := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: l.DialContext, DisableKeepAlives: true}}
	url := fmt.Sprintf("http://%s:%d/", addrs["cp"], helloNodePort)
	waitUntil(t, "the NodePort on the controlplane reaches the workers' pods", logs, 5*time.Second, 5*time.Minute, func() bool {
		return labGet(web, url) == "hello from kiln\n"
	})
	for i := 0; i < 10; i++ {
		if got := labGet(web, url); got != "hello from kiln\n" {
			t.Errorf("request %d through the controlplane's node port: %q", i, got)
		}
	}
	for _, w := range []string{"w1", "w2"} {
		if out := on(w).must("logs", "pod-routes"); !strings.Contains(out, "added") {
			t.Errorf("%s's pod-routes added no route:\n%s", w, out)
		}
	}
	if out := c.must("etcd", "members"); !strings.Contains(out, "https://"+addrs["cp"]+":2380") {
		t.Errorf("etcd members:\n%s", out)
	}

	// The upgrade keeps the cluster: etcd's data and the kubelet's state are on
	// EPHEMERAL, which an upgrade does not touch.
	upgraded := time.Now()
	out := runLong(t, c, 25*time.Minute, "upgrade", "--image", upgradeUKI, "--wait", "--wait-timeout", "20m")
	if !strings.Contains(out, "the node is back on "+clusterVersion) {
		t.Fatalf("kilnctl upgrade --wait from %s:\n%s", base, out)
	}
	mark("upgradeToBack", upgraded)
	if out, err := c.run("bootstrap"); err == nil || !strings.Contains(out, "already") {
		t.Errorf("bootstrap after the upgrade: %v, want a refusal (the etcd data is still there)\n%s", err, out)
	}
	waitUntil(t, "the API server back with the same cluster", logs, 5*time.Second, 20*time.Minute, func() bool {
		out, err := k("get", "deployment", "hello", "-o", "jsonpath={.status.readyReplicas}")
		return err == nil && strings.TrimSpace(out) == "2" && len(readyNodes()) == 3
	})
	mark("upgradeToClusterBack", upgraded)
	if n := readyNodes(); !slices.Contains(n, cpNode) {
		t.Errorf("nodes after the upgrade %v, want the controlplane %s back", n, cpNode)
	}
	waitUntil(t, "the NodePort on the upgraded controlplane", logs, 5*time.Second, 5*time.Minute, func() bool {
		return labGet(web, url) == "hello from kiln\n"
	})
	mark("total", started)
}

// clusterWorkload is TestCluster's Deployment (two replicas, never two on one node) and
// its NodePort Service: image, port (twice), node port.
const clusterWorkload = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: hello
spec:
  replicas: 2
  selector:
    matchLabels: {app: hello}
  template:
    metadata:
      labels: {app: hello}
    spec:
      affinity:
        podAntiAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            - labelSelector:
                matchLabels: {app: hello}
              topologyKey: kubernetes.io/hostname
      containers:
        - name: hello
          image: %s
          imagePullPolicy: Never
          env:
            - {name: PORT, value: "%d"}
---
apiVersion: v1
kind: Service
metadata:
  name: hello
spec:
  type: NodePort
  selector: {app: hello}
  ports:
    - port: 80
      targetPort: %d
      nodePort: %d
`

// labGet is the body of a GET through the lab; "" on any failure.
func labGet(c *http.Client, url string) string {
	resp, err := c.Get(url)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return ""
	}
	return string(body)
}
