package pipeline

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kiln-os/kiln/internal/kubepayload"
	"github.com/kiln-os/kiln/internal/oracle"
)

// fakePrograms writes stand-ins for the built programs and the module's config files.
func fakePrograms(t *testing.T) (programs, module string) {
	t.Helper()
	programs, module = t.TempDir(), t.TempDir()
	writeFile(t, programs, "kube", "kube multi-call\n")
	writeFile(t, programs, "containerd", "containerd with CRI\n")
	writeFile(t, programs, "pause", "pause\n")
	if err := os.MkdirAll(filepath.Join(programs, "cni"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range CNIPlugins {
		writeFile(t, filepath.Join(programs, "cni"), p, "plugin "+p+"\n")
	}
	writeFile(t, module, "containerd-cri.toml", "version = 4\n")
	writeFile(t, module, "cni-bridge.conflist.tmpl", "{}\n")
	return programs, module
}

// The payload holds kubepayload's layout, with every kube program a hard link to the one
// binary (unsquashfs, the oracle, lists them with kube's inode), and is byte-identical
// when written twice.
func TestWritePayloadLayout(t *testing.T) {
	oracle.Require(t, "unsquashfs", "squashfs-tools")
	programs, module := fakePrograms(t)
	files, err := payloadFiles(programs, module)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	first, second := filepath.Join(dir, "a.sqsh"), filepath.Join(dir, "b.sqsh")
	versions := KubernetesInfo{Kubernetes: "v1.37.2", Etcd: "v3.7.3", Containerd: "v2.4.2", CNIPlugins: "v1.10.0", Go: "go1.26.8"}
	for _, path := range []string{first, second} {
		if err := writePayload(path, files, versions, time.Unix(1700000000, 0)); err != nil {
			t.Fatal(err)
		}
	}
	a, _ := os.ReadFile(first)
	b, _ := os.ReadFile(second)
	if string(a) != string(b) {
		t.Error("two writes of the same payload differ")
	}
	out, err := exec.Command("unsquashfs", "-lln", first).CombinedOutput()
	if err != nil {
		t.Fatalf("unsquashfs: %v\n%s", err, out)
	}
	listing := string(out)
	want := []string{kubepayload.BinDir + "/kube", kubepayload.BinDir + "/containerd", kubepayload.CRIConfig,
		kubepayload.CNITemplate, kubepayload.SandboxImage, kubepayload.VersionsFile}
	for _, p := range CNIPlugins {
		want = append(want, kubepayload.CNIBinDir+"/"+p)
	}
	for _, p := range KubePrograms {
		want = append(want, kubepayload.BinDir+"/"+p)
	}
	for _, w := range want {
		if !strings.Contains(listing, "squashfs-root/"+w+"\n") {
			t.Errorf("payload lacks %s:\n%s", w, listing)
		}
	}
	if strings.Contains(listing, "squashfs-root/pause\n") {
		t.Error("pause is loose in the payload; it belongs only inside the sandbox image")
	}
	// unsquashfs recreates hard links: every program is kube's inode.
	root := filepath.Join(t.TempDir(), "root")
	if out, err := exec.Command("unsquashfs", "-d", root, first).CombinedOutput(); err != nil {
		t.Fatalf("unsquashfs: %v\n%s", err, out)
	}
	kube, err := os.Stat(filepath.Join(root, kubepayload.BinDir, "kube"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range KubePrograms {
		fi, err := os.Stat(filepath.Join(root, kubepayload.BinDir, p))
		if err != nil || !os.SameFile(kube, fi) {
			t.Errorf("%s is not a hard link to kube (%v)", p, err)
		}
	}
}
