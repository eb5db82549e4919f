package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kiln-os/kiln/config"
	"github.com/kiln-os/kiln/initd/events"
	"github.com/kiln-os/kiln/initd/resources"
	"github.com/kiln-os/kiln/internal/oracle"
	"github.com/kiln-os/kiln/qemu"
)

// TestKubernetes is issue 18 on one controlplane node with a disk and a TPM: the payload
// comes off the ESP, verified, and the node is ready before Kubernetes is; bootstrap
// starts etcd and the control plane (a second bootstrap is refused); a reader gets no
// kubeconfig, an admin does; the real kubectl (the payload's) sees the node Ready, runs a
// pod from the test's own image (imported into the CRI containerd), reads its logs, and
// reaches it through a Service (a NodePort, kube-proxy's nftables rules).
// The seed's resources k8s.KubeletSpec and etcd.Spec are visible through kilnctl get.
// Timings (boot → node Ready) go to _out/qemu-logs/kubernetes.json for make bench.
func TestKubernetes(t *testing.T) {
	img := requireImage(t)
	oracle.Require(t, "unsquashfs", "squashfs-tools")
	payload := artifact(t, img, "kubernetes-payload")
	work := t.TempDir()
	c := ctl{t: t, bin: buildKilnctl(t, work), config: filepath.Join(work, "kiln-config")}
	apiPort, kubePort, webPort := freePort(t), freePort(t), freePort(t)
	c.node = fmt.Sprintf("127.0.0.1:%d", apiPort)
	c.must("gen", "config", "--name", "e2e", "--endpoint", "https://10.0.2.15:6443", "--out", work)
	nodeConfig := kubernetesConfig(t, work)
	kubectl := payloadKubectl(t, payload, work)
	good, _, _ := helloArchives(t, work)
	disk := filepath.Join(work, "disk.raw")
	copySparse(t, artifact(t, img, "disk"), disk)

	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	started := time.Now()
	vm := start(t, ctx, img, "kubernetes", img.cmdline, qemu.WithDisk(disk), qemu.WithTPM(filepath.Join(work, "tpm")),
		qemu.WithMemory(3072), qemu.WithCPUs(2),
		qemu.WithUserNet(qemu.Forward{HostPort: apiPort, GuestPort: 50000}, qemu.Forward{HostPort: kubePort, GuestPort: 6443},
			qemu.Forward{HostPort: webPort, GuestPort: helloNodePort}),
		qemu.WithExtraArgs("-fw_cfg", "name=opt/kiln/config,file="+nodeConfig))
	waitBoot(t, ctx, vm, 0)
	ready := time.Since(started)

	// The payload is mounted, copied off the ESP and checked against the pin.
	waitUntil(t, "payload mounted", vm.LogPath(), 3*time.Second, 3*time.Minute, func() bool { return resourceSpec(c, "k8s.PayloadStatus", "payload")["state"] == "mounted" })
	if src := resourceSpec(c, "k8s.PayloadStatus", "payload")["source"]; src != "the ESP" {
		t.Errorf("payload source %v, want the ESP", src)
	}
	for _, want := range []string{"k8s.KubeletSpec kubelet", "etcd.Spec etcd"} {
		typ, id, _ := strings.Cut(want, " ")
		if spec := resourceSpec(c, typ, id); len(spec) == 0 {
			t.Errorf("kilnctl get %s %s: nothing", typ, id)
		}
	}

	// Bootstrap once; the second is refused.
	c.must("bootstrap")
	bootstrapped := time.Now()
	if out, err := c.run("bootstrap"); err == nil || !strings.Contains(out, "already") {
		t.Errorf("second bootstrap: %v\n%s", err, out)
	}
	// A reader gets no kubeconfig.
	c.must("gen", "cert", "--role", config.RoleReader, "--cn", "reader", "--ttl", "1h", "--ca-from", filepath.Join(work, "controlplane.yaml"), "--merge")
	if out, err := c.run("--context", "reader", "kubeconfig", "-"); err == nil || !strings.Contains(out, "PermissionDenied") && !strings.Contains(out, "os:admin") {
		t.Errorf("reader kubeconfig: %v\n%s", err, out)
	}
	kc := filepath.Join(work, "kubeconfig")
	c.must("kubeconfig", kc)
	k := func(args ...string) (string, error) {
		full := append([]string{"kubectl", "--kubeconfig", kc, "--server", fmt.Sprintf("https://127.0.0.1:%d", kubePort), "--request-timeout", "30s"}, args...)
		out, err := exec.CommandContext(ctx, kubectl, full...).CombinedOutput()
		t.Logf("kubectl %s\n%s", strings.Join(args, " "), truncate(string(out), 1500))
		return string(out), err
	}
	waitUntil(t, "node Ready", vm.LogPath(), 3*time.Second, 15*time.Minute, func() bool {
		out, err := k("get", "nodes", "-o", "jsonpath={.items[*].status.conditions[?(@.type==\"Ready\")].status}")
		return err == nil && strings.TrimSpace(out) == "True"
	})
	nodeReadyAt := time.Now()
	waitUntil(t, "k8s.KubernetesStatus sees etcd, the API server and the node healthy", vm.LogPath(), 3*time.Second, 2*time.Minute, func() bool {
		st := resourceSpec(c, "k8s.KubernetesStatus", "kubernetes")
		return st["etcd"] == "" && st["apiServer"] == "" && st["node"] == "" && st["checked"] != nil
	})
	if out := c.must("etcd", "members"); !strings.Contains(out, "https://10.0.2.15:2380") {
		t.Errorf("etcd members:\n%s", out)
	}

	// A pod from the test's own image, imported into the CRI containerd.
	c.must("image", "import", "--kubernetes", good)
	if _, err := k("run", "hello", "--image", helloRef, "--image-pull-policy", "Never", "--restart", "Never", "--env", fmt.Sprintf("PORT=%d", helloPort)); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "pod hello running", vm.LogPath(), 3*time.Second, 5*time.Minute, func() bool {
		out, err := k("get", "pod", "hello", "-o", "jsonpath={.status.phase}")
		return err == nil && out == "Running"
	})
	waitUntil(t, "pod logs through kubectl", vm.LogPath(), 3*time.Second, 3*time.Minute, func() bool {
		out, err := k("logs", "hello")
		return err == nil && strings.Contains(out, "tick")
	})
	// A Service reaches it: a NodePort, through kube-proxy's nftables rules, from outside
	// the node.
	service := filepath.Join(work, "service.yaml")
	os.WriteFile(service, fmt.Appendf(nil, `apiVersion: v1
kind: Service
metadata:
  name: hello
spec:
  type: NodePort
  selector:
    run: hello
  ports:
    - port: 80
      targetPort: %d
      nodePort: %d
`, helloPort, helloNodePort), 0o644)
	if _, err := k("apply", "-f", service); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the Service reaches the pod", vm.LogPath(), 3*time.Second, 3*time.Minute, func() bool {
		return get(fmt.Sprintf("http://127.0.0.1:%d/", webPort)) == "hello from kiln\n"
	})
	record := map[string]float64{"bootToReady": ready.Seconds(), "bootstrapToNodeReady": nodeReadyAt.Sub(bootstrapped).Seconds(),
		"bootToNodeReady": nodeReadyAt.Sub(started).Seconds()}
	data, _ := json.Marshal(record)
	os.WriteFile(filepath.Join(img.out, "qemu-logs", "kubernetes.json"), data, 0o644)
	t.Logf("timings: %s", data)
}

// helloNodePort is the node port of the test's Service.
const helloNodePort = 30080

// kubernetesConfig is the controlplane config for one node: pods may run on it, and
// etcd's timings suit TCG (a loaded 2-core host can stall the guest for seconds).
func kubernetesConfig(t *testing.T, work string) string {
	t.Helper()
	cfg, err := config.Load(writeNodeConfig(t, work))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Cluster.AllowSchedulingOnControlPlanes = true
	cfg.Cluster.Etcd.ExtraArgs = map[string]string{"heartbeat-interval": "500", "election-timeout": "5000"}
	return saveConfig(t, work, "kubernetes.yaml", cfg)
}

// payloadKubectl takes the kube multi-call binary out of the payload: the test's kubectl
// is the one the node runs.
func payloadKubectl(t *testing.T, payload, work string) string {
	t.Helper()
	dir := filepath.Join(work, "payload")
	if out, err := exec.Command("unsquashfs", "-d", dir, payload, "bin/kube").CombinedOutput(); err != nil {
		t.Fatalf("unsquashfs: %v\n%s", err, out)
	}
	return filepath.Join(dir, "bin", "kube")
}

// resourceSpec is a resource's spec as JSON values; empty when it cannot be read.
func resourceSpec(c ctl, typ, id string) map[string]any {
	out, err := c.run("get", typ, id, "-o", "json")
	if err != nil {
		return nil
	}
	var res struct {
		Spec map[string]any `json:"spec"`
	}
	if json.Unmarshal([]byte(out), &res) != nil {
		return nil
	}
	return res.Spec
}

// TestKubernetesPayloadRefused boots a controlplane whose ESP holds the pinned payload
// with one byte changed: the node is ready all the same, k8s.PayloadStatus and an event
// say the payload is refused and why, and every Kubernetes service is held with that
// reason; nothing of the bad copy is kept. Importing the good payload over the API
// (kilnctl image import) mends the node without a reboot.
func TestKubernetesPayloadRefused(t *testing.T) {
	img := requireImage(t)
	oracle.Require(t, "mcopy", "mtools")
	payload := artifact(t, img, "kubernetes-payload")
	work := t.TempDir()
	c := ctl{t: t, bin: buildKilnctl(t, work), config: filepath.Join(work, "kiln-config")}
	apiPort := freePort(t)
	c.node = fmt.Sprintf("127.0.0.1:%d", apiPort)
	c.must("gen", "config", "--name", "e2e", "--endpoint", "https://10.0.2.15:6443", "--out", work)
	nodeConfig := kubernetesConfig(t, work)
	disk := filepath.Join(work, "disk.raw")
	copySparse(t, artifact(t, img, "disk"), disk)
	data, err := os.ReadFile(payload)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0x01 // same size, other bytes: only the digest can tell
	tampered := filepath.Join(work, filepath.Base(payload))
	os.WriteFile(tampered, data, 0o644)
	mtools(t, "mcopy", "-o", "-i", disk+espOffset, tampered, "::/EFI/kiln/"+filepath.Base(payload))

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	vm := start(t, ctx, img, "kubernetes-refused", img.cmdline, qemu.WithDisk(disk), qemu.WithTPM(filepath.Join(work, "tpm")),
		qemu.WithMemory(2048), qemu.WithUserNet(qemu.Forward{HostPort: apiPort, GuestPort: 50000}),
		qemu.WithExtraArgs("-fw_cfg", "name=opt/kiln/config,file="+nodeConfig))
	waitBoot(t, ctx, vm, 0) // ready: the payload is not the node's business
	refused, err := waitFor(ctx, vm, 3*time.Minute, qemu.Match(events.TypeInfo, "kubernetes-payload", resources.PayloadRefused))
	if err != nil {
		t.Fatalf("no refusal event: %v\n%s", err, dump(vm.Events()))
	}
	if !strings.Contains(refused.Error, "the signed image pins") || !strings.Contains(refused.Error, "ESP") {
		t.Errorf("refusal event says %q, want the digest mismatch and where", refused.Error)
	}
	st := resourceSpec(c, "k8s.PayloadStatus", "payload")
	if st["state"] != resources.PayloadRefused || !strings.Contains(fmt.Sprint(st["reason"]), "the signed image pins") {
		t.Errorf("k8s.PayloadStatus %v, want refused with the reason", st)
	}
	// Every Kubernetes service says it is held for the payload; none ran.
	var held []string
	for _, e := range vm.Events() {
		if strings.HasPrefix(e.Fields["reason"], "Kubernetes payload refused") {
			held = append(held, e.Name)
		}
		if e.Name == "kubelet" && e.State == "running" {
			t.Errorf("the kubelet ran from a refused payload: %+v", e)
		}
	}
	for _, svc := range []string{"containerd-cri", "kubelet", "kube-proxy", "kube-apiserver"} {
		if !slices.Contains(held, svc) {
			t.Errorf("service %s not held for the payload (held: %v)", svc, held)
		}
	}

	// The good payload over the API: stored, mounted, the services released.
	n := len(vm.Events())
	c.must("image", "import", payload)
	mounted, err := waitFor(ctx, vm, 3*time.Minute, after(n, qemu.Match(events.TypeInfo, "kubernetes-payload", resources.PayloadMounted)))
	if err != nil {
		t.Fatalf("not mounted after the import: %v\n%s", err, dump(vm.Events()[n:]))
	}
	if mounted.Fields["sha256"] == "" {
		t.Errorf("mounted event without the digest: %+v", mounted)
	}
	if _, err := waitFor(ctx, vm, 3*time.Minute, after(n, qemu.Match(events.TypeService, "kubelet", "running"))); err != nil {
		t.Errorf("the kubelet did not start after the import: %v", err)
	}
}
