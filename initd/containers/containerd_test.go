package containers

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	snapshotsapi "github.com/containerd/containerd/api/services/snapshots/v1"
	"github.com/kiln-os/kiln/internal/ocilayout"
)

// The oracle: a real containerd, when KILN_CONTAINERD_BIN_DIR names a directory holding
// containerd (2.x) and, for the container part, containerd-shim-runc-v2 and runc. It needs
// root (overlayfs snapshots). The QEMU e2e test covers the same on a node.
func realContainerd(t *testing.T) *Client {
	t.Helper()
	bin := os.Getenv("KILN_CONTAINERD_BIN_DIR")
	if bin == "" {
		t.Skip("KILN_CONTAINERD_BIN_DIR is not set: a directory with containerd, containerd-shim-runc-v2 and runc")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: containerd mounts overlayfs snapshots")
	}
	dir := t.TempDir()
	sock := filepath.Join(dir, "containerd.sock")
	cfg := fmt.Sprintf("version = 3\nroot = %q\nstate = %q\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n[grpc]\n  address = %q\n[ttrpc]\n  address = %q\n",
		filepath.Join(dir, "root"), filepath.Join(dir, "state"), sock, sock+".ttrpc")
	cfgPath := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	cmd := exec.Command(filepath.Join(bin, "containerd"), "--config", cfgPath)
	cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"))
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill() //nolint:errcheck // the test is over
		cmd.Wait()         //nolint:errcheck
		if t.Failed() {
			t.Logf("containerd log:\n%s", logs.String())
		}
	})
	c, err := New(sock, WithImportDir(filepath.Join(dir, "import")), WithRunDir(filepath.Join(dir, "run")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		if _, err := c.Version(ctx); err == nil {
			return c
		} else if ctx.Err() != nil {
			t.Fatalf("containerd did not answer: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestContainerdImport(t *testing.T) {
	c := realContainerd(t)
	ctx := context.Background()
	imgs, err := c.Import(ctx, bytes.NewReader(helloArchive(t, "kiln.test/hello:1")), MaxImportBytes)
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.Import(ctx, bytes.NewReader(helloArchive(t, "kiln.test/hello:1")), MaxImportBytes)
	if err != nil || again[0].Digest != imgs[0].Digest {
		t.Fatalf("second import: %+v, %v", again, err)
	}
	if _, err := c.Import(ctx, bytes.NewReader(helloArchive(t, "kiln.test/bad:1", ocilayout.WithCorrupt(ocilayout.Layer))), MaxImportBytes); err == nil {
		t.Fatal("imported a corrupt archive")
	}
	// The lease is gone and containerd has collected garbage (a synchronous lease delete):
	// the labels must have kept the blobs and every layer's snapshot.
	rec, err := c.imageRecord(ctx, "kiln.test/hello:1")
	if err != nil {
		t.Fatal(err)
	}
	_, chain, err := c.imageConfig(ctx, rec)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range chain {
		if _, err := c.snapshots.Stat(c.ns(ctx), &snapshotsapi.StatSnapshotRequest{Snapshotter: Snapshotter, Key: id.String()}); err != nil {
			t.Errorf("snapshot %s: %v", id, err)
		}
	}
	list, err := c.Images(ctx)
	if err != nil || len(list) != 1 || list[0].Name != "kiln.test/hello:1" {
		t.Fatalf("Images = %+v, %v", list, err)
	}
}

// TestContainerdRun runs a static program built here, reads its output and stops it.
func TestContainerdRun(t *testing.T) {
	c := realContainerd(t)
	bin := os.Getenv("KILN_CONTAINERD_BIN_DIR")
	for _, tool := range []string{"containerd-shim-runc-v2", "runc"} {
		if _, err := os.Stat(filepath.Join(bin, tool)); err != nil {
			t.Skipf("%s is not in KILN_CONTAINERD_BIN_DIR", tool)
		}
	}
	src := filepath.Join(t.TempDir(), "main.go")
	prog := "package main\nimport (\"fmt\";\"os\";\"time\")\nfunc main(){ fmt.Println(\"hello from\", os.Getenv(\"WHO\")); _, err := os.Create(\"/x\"); fmt.Println(\"write root:\", err != nil); time.Sleep(time.Hour) }\n"
	if err := os.WriteFile(src, []byte(prog), 0o644); err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(t.TempDir(), "hello")
	build := exec.Command("go", "build", "-o", exe, src)
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	data, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	archive, err := ocilayout.Build("kiln.test/run:1", map[string]ocilayout.File{"hello": {Mode: 0o755, Data: data}}, ocilayout.Config{Entrypoint: []string{"/hello"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := c.Import(ctx, bytes.NewReader(archive), MaxImportBytes); err != nil {
		t.Fatal(err)
	}
	out := &syncBuffer{}
	task, err := c.Start(ctx, Spec{ID: "hello", Image: "kiln.test/run:1", Env: []string{"WHO=kiln"}, MemoryBytes: 64 << 20}, out)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !out.has("hello from kiln\n") || !out.has("write root: true\n") {
		if time.Now().After(deadline) {
			t.Fatalf("output %q", out.lines)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := c.Remove(ctx, "hello", 2*time.Second); err != nil {
		t.Fatal(err)
	}
	exit, err := task.Wait(ctx)
	if err != nil || exit.Code == 0 {
		t.Errorf("exit %+v, %v", exit, err)
	}
	if ids, err := c.Containers(ctx); err != nil || strings.Join(ids, ",") != "" {
		t.Errorf("Containers after Remove = %v, %v", ids, err)
	}
}

// TestContainerdStartFails starts a container where containerd has no shim: the
// container record and snapshot containerd accepted are removed again.
func TestContainerdStartFails(t *testing.T) {
	c := realContainerd(t)
	if _, err := os.Stat(filepath.Join(os.Getenv("KILN_CONTAINERD_BIN_DIR"), "containerd-shim-runc-v2")); err == nil {
		t.Skip("the shim is there: TestContainerdRun covers Start")
	}
	ctx := context.Background()
	if _, err := c.Import(ctx, bytes.NewReader(helloArchive(t, "kiln.test/hello:1")), MaxImportBytes); err != nil {
		t.Fatal(err)
	}
	_, err := c.Start(ctx, Spec{ID: "hello", Image: "kiln.test/hello:1"}, &syncBuffer{})
	if err == nil || !strings.Contains(err.Error(), "container hello: task create") {
		t.Fatalf("Start without a shim: %v", err)
	}
	t.Log(err)
	if ids, err := c.Containers(ctx); err != nil || len(ids) != 0 {
		t.Errorf("Containers = %v, %v", ids, err)
	}
	if _, err := c.snapshots.Stat(c.ns(ctx), &snapshotsapi.StatSnapshotRequest{Snapshotter: Snapshotter, Key: "hello"}); !isNotFound(err) {
		t.Errorf("snapshot hello: %v", err)
	}
	if _, err := os.Stat(filepath.Join(c.runDir, "hello")); !os.IsNotExist(err) {
		t.Errorf("run directory: %v", err)
	}
}
