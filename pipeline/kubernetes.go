package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/kiln-os/kiln/internal/atomicfile"
)

// KubernetesModuleDir is the separate Go module, relative to the repository, that pins
// Kubernetes, etcd and the CNI plugins. Like the runtime module it keeps a large
// dependency tree (about 2,400 packages) out of the main module.
const KubernetesModuleDir = "kubernetes"

// CNIModuleDir is the module, inside the kubernetes module's folder, that pins the CNI
// plugins. It is a module of its own because the plugins require newer releases of
// libraries Kubernetes pins (OpenTelemetry, protobuf): in one module they would raise
// Kubernetes' dependencies past the set Kubernetes was tested with.
const CNIModuleDir = "cni"

// Module paths whose versions (from the modules' go.mod files) are stamped and recorded.
const (
	kubernetesModule = "k8s.io/kubernetes"
	etcdModule       = "go.etcd.io/etcd/server/v3"
	cniModule        = "github.com/containernetworking/plugins"
)

// KubernetesInfo names what the Kubernetes payload was built from, for the manifest and
// for the node (the payload carries it as versions.json).
type KubernetesInfo struct {
	Kubernetes string `json:"kubernetes"`
	Etcd       string `json:"etcd"`
	Containerd string `json:"containerd"`
	CNIPlugins string `json:"cniPlugins"`
	Go         string `json:"go"`
}

// KubePrograms are the programs of the kube multi-call binary (kubernetes/cmd/kube); the
// payload holds each as a hard link to it.
var KubePrograms = []string{
	"etcd", "etcdctl", "etcdutl", "kube-apiserver", "kube-controller-manager", "kube-proxy", "kube-scheduler", "kubectl", "kubelet",
	"mount", "pod-routes", "umount",
}

// CNIPlugins are the CNI plugins the payload carries: the bridge with host-local IPAM
// (this kernel has no BPF JIT, so no eBPF dataplane) and loopback, which the CRI
// containerd runs for every pod sandbox's lo. portmap is left out: it programs its rules
// through the iptables or nft program, which a Kiln node does not have.
var CNIPlugins = []string{"bridge", "host-local", "loopback"}

// kubernetesIn is what the payload's programs are built from: the kubernetes module, the
// runtime module (the CRI containerd is containerd's own main, from the same pinned
// containerd as the node's system instance) and the Go toolchain.
type kubernetesIn struct {
	ModuleDir, RuntimeModuleDir string
	stepEnv
}

// kubernetesOut is the directory of the built programs, inside the cache, and their
// versions. Dir holds kube, containerd, pause and cni/<plugin>.
type kubernetesOut struct {
	Dir      string
	Versions KubernetesInfo
	cached
}

// kubeBinary is one program of the payload: where it is built from and how.
type kubeBinary struct {
	Module string // "kubernetes", "cni" or "runtime": which module it is built in
	runtimeBinary
}

// kubernetesBinaries is the build table. Everything is pure Go (CGO_ENABLED=0).
//   - kube is Kubernetes' and etcd's programs in one binary; the version stamps are the
//     ones Kubernetes' own build writes (hack/lib/version.sh), which the kubelet reports
//     to the API server and kubectl compares. buildDate is left at its default: a date
//     from the commit would rebuild Kubernetes on every commit.
//   - containerd is upstream's containerd main with its default plugins, CRI included: the
//     CRI instance runs pods, not the node, and lives outside the UKI, so it takes the
//     configuration containerd tests rather than the system instance's trimmed one.
//   - pause is the sandbox image's one program.
//   - the CNI plugins, stamped as their own build does.
func kubernetesBinaries(v KubernetesInfo) []kubeBinary {
	major, minor := kubeMajorMinor(v.Kubernetes)
	kubeStamp := fmt.Sprintf("-s -w -buildid= -X k8s.io/component-base/version.gitVersion=%[1]s"+
		" -X k8s.io/component-base/version.gitMajor=%[2]s -X k8s.io/component-base/version.gitMinor=%[3]s"+
		" -X k8s.io/component-base/version.gitTreeState=clean", v.Kubernetes, major, minor)
	bins := []kubeBinary{
		{"kubernetes", runtimeBinary{Name: "kube", Package: "./cmd/kube", LDFlags: kubeStamp}},
		{"runtime", runtimeBinary{Name: "containerd", Package: containerdModule + "/cmd/containerd",
			Tags: "no_btrfs no_devmapper no_zfs", LDFlags: fmt.Sprintf("-s -w -buildid= -X %s/version.Version=%s", containerdModule, v.Containerd)}},
		{"kubernetes", runtimeBinary{Name: "pause", Package: "./cmd/pause", LDFlags: "-s -w -buildid="}},
	}
	for _, p := range CNIPlugins {
		bins = append(bins, kubeBinary{"cni", runtimeBinary{
			Name: "cni/" + p, Package: cniModule + "/plugins/" + cniPluginDir(p) + "/" + p,
			LDFlags: fmt.Sprintf("-s -w -buildid= -X %s/pkg/utils/buildversion.BuildVersion=%s", cniModule, v.CNIPlugins),
		}})
	}
	return bins
}

// cniPluginDir is the folder of the plugins repository that holds a plugin.
func cniPluginDir(plugin string) string {
	switch plugin {
	case "host-local":
		return "ipam"
	case "portmap":
		return "meta"
	}
	return "main"
}

// kubeMajorMinor splits "v1.37.2" into "1" and "37".
func kubeMajorMinor(version string) (string, string) {
	parts := strings.SplitN(strings.TrimPrefix(version, "v"), ".", 3)
	if len(parts) < 2 {
		return "", ""
	}
	return parts[0], parts[1]
}

// stepKubernetes builds the payload's programs and checks them (static, no host path,
// each answering with its pinned version). The key is every file of both modules, the Go
// toolchain, the build table and the environment. A cold build takes tens of minutes
// (docs/benchmarks.md); a hit takes none.
func stepKubernetes(ctx context.Context, in kubernetesIn) (kubernetesOut, error) {
	versions, err := kubernetesVersions(ctx, in.ModuleDir, in.RuntimeModuleDir)
	if err != nil {
		return kubernetesOut{}, err
	}
	goVersion, err := exec.CommandContext(ctx, "go", "version").Output()
	if err != nil {
		return kubernetesOut{}, fmt.Errorf("go toolchain: %w", err)
	}
	kubeHash, err := hashTree(in.ModuleDir)
	if err != nil {
		return kubernetesOut{}, err
	}
	runtimeHash, err := hashTree(in.RuntimeModuleDir)
	if err != nil {
		return kubernetesOut{}, err
	}
	bins := kubernetesBinaries(versions)
	key := Key("kubernetes-v1", kubeHash, runtimeHash, string(goVersion), fmt.Sprint(bins), fmt.Sprint(runtimeEnv))
	dir, hit, err := Cache{in.CacheDir}.Step("kubernetes", key, func(dir string) error {
		in.Log.Info("building Kubernetes, etcd and the CRI containerd from the pinned modules (a cold build takes tens of minutes)")
		return buildKubernetes(ctx, in, bins, versions, dir)
	})
	if err != nil {
		return kubernetesOut{}, err
	}
	logHit(in.Log, "kubernetes", hit)
	var recorded KubernetesInfo
	if err := readJSON(filepath.Join(dir, kubernetesInfoFile), &recorded); err != nil {
		return kubernetesOut{}, err
	}
	return kubernetesOut{Dir: dir, Versions: recorded, cached: cached{hit}}, nil
}

// kubernetesInfoFile is where a cache entry records its versions.
const kubernetesInfoFile = "versions.json"

// buildKubernetes builds and checks every program into dir and records the versions.
func buildKubernetes(ctx context.Context, in kubernetesIn, bins []kubeBinary, v KubernetesInfo, dir string) error {
	if err := os.MkdirAll(filepath.Join(dir, "cni"), 0o755); err != nil {
		return err
	}
	for _, b := range bins {
		module := in.ModuleDir
		switch b.Module {
		case "runtime":
			module = in.RuntimeModuleDir
		case "cni":
			module = filepath.Join(in.ModuleDir, CNIModuleDir)
		}
		dst := filepath.Join(dir, filepath.FromSlash(b.Name))
		if err := goBuildRuntime(ctx, module, b.runtimeBinary, dst); err != nil {
			return err
		}
		if err := checkShippable(dst, module); err != nil {
			return err
		}
	}
	if err := checkKubernetes(ctx, dir, v); err != nil {
		return err
	}
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, kubernetesInfoFile), append(data, '\n'), 0o644)
}

// checkKubernetes runs each program for its version: the multi-call binary must dispatch
// to every program by name, and each must carry the pinned version (a missing -X stamp
// shows up here, not as a node whose kubelet reports v0.0.0).
func checkKubernetes(ctx context.Context, dir string, v KubernetesInfo) error {
	kube := filepath.Join(dir, "kube")
	checks := []struct {
		args []string
		env  []string
		want string
	}{
		{[]string{kube, "kubectl", "version", "--client"}, nil, "Client Version: " + v.Kubernetes},
		{[]string{kube, "kubelet", "--version"}, nil, "Kubernetes " + v.Kubernetes},
		{[]string{kube, "kube-apiserver", "--version"}, nil, "Kubernetes " + v.Kubernetes},
		{[]string{kube, "etcd", "--version"}, nil, "etcd Version: " + strings.TrimPrefix(v.Etcd, "v")},
		{[]string{kube, "etcdutl", "version"}, nil, "etcdutl version: " + strings.TrimPrefix(v.Etcd, "v")},
		{[]string{filepath.Join(dir, "containerd"), "--version"}, nil, " " + v.Containerd + " "},
		{[]string{filepath.Join(dir, "cni", "bridge")}, []string{"CNI_COMMAND=VERSION"}, `"cniVersion"`},
	}
	for _, c := range checks {
		cmd := exec.CommandContext(ctx, c.args[0], c.args[1:]...)
		cmd.Env = append(os.Environ(), c.env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%w: %s: %w\n%s", ErrNotShippable, strings.Join(c.args[1:], " "), err, out)
		}
		if !strings.Contains(string(out), c.want) {
			return fmt.Errorf("%w: %s %s says %q, want %q in it", ErrNotShippable, filepath.Base(c.args[0]), strings.Join(c.args[1:], " "), out, c.want)
		}
	}
	return nil
}

// kubernetesVersions reads the pinned versions from the two modules' go.mod files.
func kubernetesVersions(ctx context.Context, kubeDir, runtimeDir string) (KubernetesInfo, error) {
	kube, err := listModules(ctx, kubeDir, kubernetesModule, etcdModule)
	if err != nil {
		return KubernetesInfo{}, err
	}
	cni, err := listModules(ctx, filepath.Join(kubeDir, CNIModuleDir), cniModule)
	if err != nil {
		return KubernetesInfo{}, err
	}
	runtime, err := moduleVersions(ctx, runtimeDir)
	if err != nil {
		return KubernetesInfo{}, err
	}
	info := KubernetesInfo{
		Kubernetes: kube[kubernetesModule], Etcd: kube[etcdModule], CNIPlugins: cni[cniModule],
		Containerd: runtime.Containerd, Go: runtime.Go,
	}
	if info.Kubernetes == "" || info.Etcd == "" || info.CNIPlugins == "" {
		return KubernetesInfo{}, fmt.Errorf("%s/go.mod must require %s and %s, and %s/%s/go.mod %s", kubeDir, kubernetesModule, etcdModule, kubeDir, CNIModuleDir, cniModule)
	}
	return info, nil
}

func readJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
