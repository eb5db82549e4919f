package pipeline

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kiln-os/kiln/internal/oracle"
)

// Editing the runtime module (a nested module) does not change machined's source hash;
// editing machined's sources does.
func TestHashGoSourcesSkipsNestedModule(t *testing.T) {
	repo := t.TempDir()
	writeFile(t, repo, "go.mod", "module example.com/repo\n")
	writeFile(t, repo, "main.go", "package main\n")
	if err := os.MkdirAll(filepath.Join(repo, "containerd", "cmd"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(repo, "containerd"), "go.mod", "module example.com/repo/containerd\n")
	nested := writeFile(t, filepath.Join(repo, "containerd", "cmd"), "main.go", "package main\n")
	first, err := hashGoSources(repo)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(nested, []byte("package main // edited\n"), 0o644)
	if got, _ := hashGoSources(repo); got != first {
		t.Error("editing the nested module changed machined's source hash")
	}
	writeFile(t, repo, "main.go", "package main // edited\n")
	if got, _ := hashGoSources(repo); got == first {
		t.Error("editing machined's sources left the hash unchanged")
	}
}

// Every file of the runtime module is input: a changed config changes the hash, and a
// symlink (which a build could follow out of the module) is refused, naming it.
func TestHashTree(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "go.mod", "module m\n")
	config := writeFile(t, dir, "config.toml", "version = 4\n")
	first, err := hashTree(dir)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(config, []byte("version = 4\noom_score = -999\n"), 0o644)
	if got, _ := hashTree(dir); got == first {
		t.Error("a changed config.toml left the hash unchanged")
	}
	os.Symlink("../outside", filepath.Join(dir, "link"))
	if _, err := hashTree(dir); err == nil || !strings.Contains(err.Error(), "link") {
		t.Errorf("symlink: %v, want an error naming it", err)
	}
}

// A dynamically linked binary (the host's shell) is refused: the root has no libc.
func TestCheckShippableRefusesDynamic(t *testing.T) {
	oracle.RequireFile(t, "/bin/sh", "dash")
	err := checkShippable("/bin/sh", t.TempDir())
	if !errors.Is(err, ErrNotShippable) || !strings.Contains(err.Error(), "PT_INTERP") {
		t.Errorf("checkShippable(/bin/sh) = %v, want ErrNotShippable naming PT_INTERP", err)
	}
}

// runc --version must name the pinned version and libseccomp's: a runc without seccomp,
// or another version, fails the build.
func TestCheckRunc(t *testing.T) {
	oracle.RequireFile(t, "/bin/sh", "dash")
	for _, tc := range []struct {
		name, output, want string
		ok                 bool
	}{
		{"seccomp", "runc version 1.5.3\nspec: 1.3.0\ngo: go1.26.8\nlibseccomp: 2.5.4\n", "2.5.4", true},
		{"no seccomp", "runc version 1.5.3\nspec: 1.3.0\ngo: go1.26.8\n", "", false},
		{"other version", "runc version 1.5.30\nlibseccomp: 2.5.4\n", "", false},
		{"unstamped", "runc version unknown\nlibseccomp: 2.5.4\n", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			script := writeFile(t, t.TempDir(), "runc", "#!/bin/sh\nprintf '"+strings.ReplaceAll(tc.output, "\n", `\n`)+"'\n")
			os.Chmod(script, 0o755)
			got, err := checkRunc(context.Background(), script, "v1.5.3")
			if tc.ok && (err != nil || got != tc.want) {
				t.Errorf("got %q, %v; want %q", got, err, tc.want)
			}
			if !tc.ok && !errors.Is(err, ErrNotShippable) {
				t.Errorf("got %q, %v; want ErrNotShippable", got, err)
			}
		})
	}
}

// The shim's -v must answer as the shim with the pinned version: a binary that ran
// containerd under the shim's name fails the build.
func TestCheckShim(t *testing.T) {
	oracle.RequireFile(t, "/bin/sh", "dash")
	for _, tc := range []struct {
		name, output string
		ok           bool
	}{
		{"shim", "containerd-shim-runc-v2:\n  Version:  v2.4.2\n  Revision: \n  Go version: go1.26.8\n\n", true},
		{"containerd", "containerd github.com/containerd/containerd/v2 v2.4.2 \n", false},
		{"other version", "containerd-shim-runc-v2:\n  Version:  v2.4.20\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			script := writeFile(t, t.TempDir(), shimName, "#!/bin/sh\nprintf '"+strings.ReplaceAll(tc.output, "\n", `\n`)+"'\n")
			os.Chmod(script, 0o755)
			err := checkShim(context.Background(), script, "v2.4.2")
			if tc.ok != (err == nil) || (err != nil && !errors.Is(err, ErrNotShippable)) {
				t.Errorf("checkShim = %v, want ok %t (else ErrNotShippable)", err, tc.ok)
			}
		})
	}
}

// The real step builds containerd (the shim in it) and runc from ../containerd (static,
// seccomp in runc, config accepted by containerd, the shim answering -v under its name:
// buildRuntime checks each), records the pinned versions, and hits its cache entry the
// second time. It then starts the binary as containerd. It takes minutes with a cold Go
// build cache.
func TestRuntimeStepBuildsPinnedVersions(t *testing.T) {
	if testing.Short() {
		t.Skip("builds containerd, its shim and runc")
	}
	oracle.RequireFile(t, LibseccompStatic, LibseccompPackage)
	oracle.Require(t, "gcc", "gcc")
	in := runtimeIn{ModuleDir: filepath.Join("..", RuntimeModuleDir), stepEnv: testEnv(t)}
	out, err := stepRuntime(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if out.Versions.Containerd != "v2.4.2" || out.Versions.Runc != "v1.5.3" || out.Versions.Libseccomp == "" || !strings.HasPrefix(out.Versions.Go, "go1.") {
		t.Errorf("versions = %+v, want containerd v2.4.2, runc v1.5.3, a libseccomp and a Go version", out.Versions)
	}
	shim := filepath.Join(filepath.Dir(out.Containerd), shimName)
	if a, b := fileID(t, out.Containerd), fileID(t, shim); a != b {
		t.Errorf("the cache holds containerd and %s as inodes %d and %d, want one (a hard link)", shimName, a, b)
	}
	for _, bin := range []string{out.Containerd, out.Runc} {
		if err := checkShippable(bin, in.ModuleDir); err != nil {
			t.Error(err)
		}
	}
	again, err := stepRuntime(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	// The same entry, from the cache this time.
	want := out
	want.cached = cached{hit: true}
	if out.hit || again != want {
		t.Errorf("runs %+v then %+v, want a miss then the same entry as a hit", out, again)
	}
	checkLoadedPlugins(t, out.Containerd)
}

// checkLoadedPlugins starts the binary as containerd with a temporary root, state and
// sockets, until it has booted, and checks the plugins it logs as loading: the API it
// serves (health and introspection among them), and neither the shim's runc task service
// (which containerd's ttrpc server would serve) nor CRI.
func checkLoadedPlugins(t *testing.T, containerd string) {
	dir := t.TempDir()
	config := writeFile(t, dir, "config.toml", fmt.Sprintf(`version = 4
root = '%[1]s/root'
state = '%[1]s/state'
[plugins.'io.containerd.server.v1.grpc']
  address = '%[1]s/c.sock'
[plugins.'io.containerd.server.v1.ttrpc']
  address = '%[1]s/c.sock.ttrpc'
`, dir))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, containerd, "--config", config, "--log-level", "info")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	loaded := map[string]bool{}
	var log strings.Builder
	booted := false
	for lines := bufio.NewScanner(stderr); !booted && lines.Scan(); {
		log.WriteString(lines.Text() + "\n")
		if m := loadingPlugin.FindStringSubmatch(lines.Text()); m != nil {
			loaded[m[1]] = true
		}
		booted = strings.Contains(lines.Text(), `msg="containerd successfully booted`)
	}
	if !booted {
		t.Fatalf("containerd did not boot:\n%s", log.String())
	}
	for _, id := range []string{"io.containerd.grpc.v1.healthcheck", "io.containerd.grpc.v1.introspection",
		"io.containerd.runtime.v2.task", "io.containerd.snapshotter.v1.overlayfs", "io.containerd.server.v1.ttrpc"} {
		if !loaded[id] {
			t.Errorf("containerd did not load %s", id)
		}
	}
	for id := range loaded {
		if id == "io.containerd.ttrpc.v1.task" || strings.Contains(id, "cri") {
			t.Errorf("containerd loaded %s, which is the shim's or CRI's", id)
		}
	}
}

var loadingPlugin = regexp.MustCompile(`msg="loading plugin" id=(\S+)`)

// fileID returns a file's inode number.
func fileID(t *testing.T, path string) uint64 {
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}
