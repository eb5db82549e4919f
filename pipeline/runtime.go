package pipeline

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/kiln-os/kiln/internal/atomicfile"
	"github.com/kiln-os/kiln/rootfs"
)

// RuntimeModuleDir is the separate Go module, relative to the repository, that pins
// containerd and runc and holds the node's containerd config. It is its own module so that
// their dependency tree (about a thousand packages) stays out of the main module.
const RuntimeModuleDir = "containerd"

// LibseccompStatic is Debian's static libseccomp, linked into runc so that it runs on a
// root with no libc.
const (
	LibseccompStatic  = "/usr/lib/x86_64-linux-gnu/libseccomp.a"
	LibseccompPackage = "libseccomp-dev"
)

// Module paths whose versions (from the runtime module's go.mod) are stamped and recorded.
const (
	containerdModule = "github.com/containerd/containerd/v2"
	runcModule       = "github.com/opencontainers/runc"
)

// RuntimeInfo names what the container runtime was built from, for the manifest.
type RuntimeInfo struct {
	Containerd string `json:"containerd"`
	Runc       string `json:"runc"`
	Go         string `json:"go"`
	Libseccomp string `json:"libseccomp"`
}

// runtimeIn is what the runtime is built from: the module under ModuleDir, the Go
// toolchain, gcc and libseccomp.a.
type runtimeIn struct {
	ModuleDir string
	stepEnv
}

// runtimeOut holds the paths of the two binaries and the config, inside the cache, and
// their versions. Containerd is the multi-call binary of containerd and its runc v2 shim;
// the cache entry also holds it as containerd-shim-runc-v2, a hard link (shimName).
type runtimeOut struct {
	Containerd, Runc, Config string
	Versions                 RuntimeInfo
	cached
}

// Files is what the root filesystem installs.
func (o runtimeOut) Files() rootfs.Runtime {
	return rootfs.Runtime{Containerd: o.Containerd, Runc: o.Runc, Config: o.Config}
}

// shimName is the name that makes the containerd binary run the runc v2 shim
// (containerd/cmd/containerd's dispatch).
const shimName = "containerd-shim-runc-v2"

// runtimeEnv is the build environment, set over the caller's so that a CC, CGO_CFLAGS or
// GOAMD64 in the host's environment cannot change the binaries without changing the key.
// GOWORK=off: a go.work above the checkout must not change what is built. GOTOOLCHAIN=local:
// the toolchain in the key is the one that builds. The cgo flags are Go's defaults.
var runtimeEnv = []string{
	"GOOS=linux", "GOARCH=amd64", "GOAMD64=v1", "GOFLAGS=-buildvcs=false", "GOWORK=off", "GOTOOLCHAIN=local",
	"CC=gcc", "CGO_CFLAGS=-O2 -g", "CGO_LDFLAGS=-O2 -g", "PKG_CONFIG_PATH=",
}

// runtimeBinary is one binary of the runtime and how it is built.
type runtimeBinary struct {
	Name    string // file name in the cache and in /usr/bin
	Package string // what `go build` builds, in the runtime module
	Cgo     bool
	Tags    string
	LDFlags string
}

// runtimeBinaries is the build table. containerd (with its shim: one multi-call binary) is
// pure Go; grpcnotrace leaves out grpc's request tracing, which containerd never enables
// (containerd/cmd/containerd's doc has the numbers). runc needs cgo for seccomp
// (libseccomp-golang); netgo and osusergo keep glibc's NSS out, so that the static link
// needs nothing from libc at run time, and --build-id=none keeps the external linker from
// adding a build ID. runc_nocriu leaves out checkpoint/restore (runc's README, "Build
// Tags"): it needs the criu binary, which a Kiln root does not have, and it saved 697 KB
// raw, 167 KB zstd -19.
func runtimeBinaries(v RuntimeInfo) []runtimeBinary {
	stamp := fmt.Sprintf("-s -w -buildid= -X %s/version.Version=%s", containerdModule, v.Containerd)
	return []runtimeBinary{
		{Name: "containerd", Package: "./cmd/containerd", Tags: "grpcnotrace", LDFlags: stamp},
		{Name: "runc", Package: runcModule, Cgo: true, Tags: "seccomp netgo osusergo runc_nocriu",
			LDFlags: fmt.Sprintf(`-s -w -buildid= -X main.version=%s -linkmode=external -extldflags "-static -Wl,--build-id=none"`, strings.TrimPrefix(v.Runc, "v"))},
	}
}

// stepRuntime builds containerd (with containerd-shim-runc-v2 in it) and runc from the
// runtime module, checks them (static, seccomp compiled into runc, config accepted by
// containerd, the shim answering under its name, no host path inside) and caches them with
// the config. The key is every file of the module, the
// Go toolchain, the build table and environment, gcc's version and libseccomp.a's digest.
func stepRuntime(ctx context.Context, in runtimeIn) (runtimeOut, error) {
	versions, err := moduleVersions(ctx, in.ModuleDir)
	if err != nil {
		return runtimeOut{}, err
	}
	seccompSum, _, err := FileSHA256(LibseccompStatic)
	if err != nil {
		return runtimeOut{}, fmt.Errorf("%s is missing: install Debian package %s (make deps): %w", LibseccompStatic, LibseccompPackage, err)
	}
	gccVersion, err := exec.CommandContext(ctx, "gcc", "--version").Output()
	if err != nil {
		return runtimeOut{}, fmt.Errorf("gcc (runc is built with cgo; install Debian package gcc): %w", err)
	}
	goVersion, err := exec.CommandContext(ctx, "go", "version").Output()
	if err != nil {
		return runtimeOut{}, fmt.Errorf("go toolchain: %w", err)
	}
	modHash, err := hashTree(in.ModuleDir)
	if err != nil {
		return runtimeOut{}, err
	}
	bins := runtimeBinaries(versions)
	key := Key("runtime-v2", modHash, string(goVersion), fmt.Sprint(bins), fmt.Sprint(runtimeEnv), string(gccVersion), seccompSum)
	dir, hit, err := Cache{in.CacheDir}.Step("runtime", key, func(dir string) error {
		return buildRuntime(ctx, in.ModuleDir, bins, versions, dir)
	})
	if err != nil {
		return runtimeOut{}, err
	}
	logHit(in.Log, "runtime", hit)
	var recorded RuntimeInfo
	if err := readJSON(filepath.Join(dir, runtimeInfoFile), &recorded); err != nil {
		return runtimeOut{}, err
	}
	return runtimeOut{
		Containerd: filepath.Join(dir, "containerd"), Runc: filepath.Join(dir, "runc"),
		Config: filepath.Join(dir, "config.toml"), Versions: recorded, cached: cached{hit},
	}, nil
}

// runtimeInfoFile is where a cache entry records its versions (libseccomp's is read from
// the built runc).
const runtimeInfoFile = "versions.json"

// buildRuntime builds and checks every binary into dir and records the versions.
func buildRuntime(ctx context.Context, moduleDir string, bins []runtimeBinary, v RuntimeInfo, dir string) error {
	for _, b := range bins {
		if err := goBuildRuntime(ctx, moduleDir, b, filepath.Join(dir, b.Name)); err != nil {
			return err
		}
		if err := checkShippable(filepath.Join(dir, b.Name), moduleDir); err != nil {
			return err
		}
	}
	if err := atomicfile.Copy(filepath.Join(dir, "config.toml"), filepath.Join(moduleDir, "config.toml"), 0o644); err != nil {
		return err
	}
	seccomp, err := checkRunc(ctx, filepath.Join(dir, "runc"), v.Runc)
	if err != nil {
		return err
	}
	v.Libseccomp = seccomp
	if err := checkContainerdConfig(ctx, filepath.Join(dir, "containerd"), filepath.Join(dir, "config.toml")); err != nil {
		return err
	}
	if err := os.Link(filepath.Join(dir, "containerd"), filepath.Join(dir, shimName)); err != nil {
		return err
	}
	if err := checkShim(ctx, filepath.Join(dir, shimName), v.Containerd); err != nil {
		return err
	}
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, runtimeInfoFile), append(data, '\n'), 0o644)
}

func goBuildRuntime(ctx context.Context, moduleDir string, b runtimeBinary, dst string) error {
	args := []string{"build", "-trimpath", "-tags", b.Tags, "-ldflags", b.LDFlags, "-o", dst, b.Package}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = moduleDir
	cgo := "CGO_ENABLED=0"
	if b.Cgo {
		cgo = "CGO_ENABLED=1"
	}
	cmd.Env = append(append(os.Environ(), cgo), runtimeEnv...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s (in %s): %w\n%s", b.Package, moduleDir, err, out)
	}
	return nil
}

// ErrNotShippable is returned for a runtime binary that would not run on the node or would
// make the image depend on the build host.
var ErrNotShippable = errors.New("pipeline: runtime binary not shippable")

// checkShippable refuses a binary that asks for a dynamic loader or shared libraries (the
// root has no libc) or that holds the module's absolute path (the build would depend on
// where the checkout is).
func checkShippable(path, moduleDir string) error {
	f, err := elf.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%w: %s asks for a dynamic loader (PT_INTERP): it must be linked statically", ErrNotShippable, filepath.Base(path))
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		return fmt.Errorf("%w: %s needs shared libraries %v", ErrNotShippable, filepath.Base(path), libs)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	abs, err := filepath.Abs(moduleDir)
	if err != nil {
		return err
	}
	if bytes.Contains(data, []byte(abs)) {
		return fmt.Errorf("%w: %s contains the host path %s (build with -trimpath)", ErrNotShippable, filepath.Base(path), abs)
	}
	return nil
}

var libseccompLine = regexp.MustCompile(`(?m)^libseccomp: (\S+)$`)

// checkRunc runs `runc --version`: it must name the pinned version and libseccomp's, which
// runc prints only when seccomp is compiled in (the shim asks `runc features`, and a runc
// without seccomp would run containers without their syscall filter). It returns
// libseccomp's version.
func checkRunc(ctx context.Context, runc, want string) (string, error) {
	out, err := exec.CommandContext(ctx, runc, "--version").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s --version: %w\n%s", runc, err, out)
	}
	if !strings.HasPrefix(string(out), "runc version "+strings.TrimPrefix(want, "v")+"\n") {
		return "", fmt.Errorf("%w: runc --version says %q, want version %s", ErrNotShippable, out, want)
	}
	m := libseccompLine.FindSubmatch(out)
	if m == nil {
		return "", fmt.Errorf("%w: runc was built without seccomp (no libseccomp line in %q)", ErrNotShippable, out)
	}
	return string(m[1]), nil
}

// checkContainerdConfig has containerd load the config and every plugin's section: an
// unknown key, a bad value or a config version it cannot read fails the build, not the boot.
func checkContainerdConfig(ctx context.Context, containerd, config string) error {
	out, err := exec.CommandContext(ctx, containerd, "--config", config, "config", "dump").CombinedOutput()
	if err != nil {
		return fmt.Errorf("containerd rejects %s: %w\n%s", RuntimeModuleDir+"/config.toml", err, out)
	}
	return nil
}

// checkShim runs the containerd binary under the shim's name with the shim's -v flag: it
// must answer as the shim, with the pinned version. A binary that dispatched on another
// rule, or whose imports defined the shim's flags twice, would fail here, not in the
// first container's start.
func checkShim(ctx context.Context, shim, want string) error {
	out, err := exec.CommandContext(ctx, shim, "-v").CombinedOutput()
	if err != nil {
		return fmt.Errorf("%w: %s -v: %w\n%s", ErrNotShippable, shimName, err, out)
	}
	if !strings.HasPrefix(string(out), shimName+":\n") || !strings.Contains(string(out), "Version:  "+want+"\n") {
		return fmt.Errorf("%w: %s -v says %q, want the shim's version %s", ErrNotShippable, shimName, out, want)
	}
	return nil
}

// moduleVersions reads containerd's and runc's versions from the runtime module's go.mod
// and the Go toolchain's.
func moduleVersions(ctx context.Context, moduleDir string) (RuntimeInfo, error) {
	versions, err := listModules(ctx, moduleDir, containerdModule, runcModule)
	if err != nil {
		return RuntimeInfo{}, err
	}
	goVersion, err := exec.CommandContext(ctx, "go", "env", "GOVERSION").Output()
	if err != nil {
		return RuntimeInfo{}, fmt.Errorf("go env GOVERSION: %w", commandError(err))
	}
	info := RuntimeInfo{Containerd: versions[containerdModule], Runc: versions[runcModule], Go: strings.TrimSpace(string(goVersion))}
	if info.Containerd == "" || info.Runc == "" {
		return RuntimeInfo{}, fmt.Errorf("%s/go.mod must require %s and %s (got %v)", moduleDir, containerdModule, runcModule, versions)
	}
	return info, nil
}

// listModules returns the versions the module at moduleDir builds with (through go list,
// which applies replace directives), by module path.
func listModules(ctx context.Context, moduleDir string, modules ...string) (map[string]string, error) {
	cmd := exec.CommandContext(ctx, "go", append([]string{"list", "-m", "-f", "{{.Path}} {{.Version}}"}, modules...)...)
	cmd.Dir = moduleDir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOTOOLCHAIN=local", "GOFLAGS=-mod=readonly")
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list -m in %s: %w", moduleDir, commandError(err))
	}
	versions := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if path, version, ok := strings.Cut(line, " "); ok {
			versions[path] = version
		}
	}
	return versions, nil
}

// commandError adds a failed command's stderr to its error.
func commandError(err error) error {
	var exit *exec.ExitError
	if errors.As(err, &exit) && len(exit.Stderr) > 0 {
		return fmt.Errorf("%w: %s", err, bytes.TrimSpace(exit.Stderr))
	}
	return err
}

// hashTree hashes every regular file under dir (path and content, in path order): all of
// the runtime module is input, its config included.
func hashTree(dir string) (string, error) {
	var paths []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			paths = append(paths, p)
		} else if !d.IsDir() {
			return fmt.Errorf("%s: not a regular file or directory: the runtime module holds only files", p)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	sort.Strings(paths)
	parts := make([]string, 0, 2*len(paths))
	for _, p := range paths {
		sum, _, err := FileSHA256(p)
		if err != nil {
			return "", err
		}
		rel, _ := filepath.Rel(dir, p)
		parts = append(parts, filepath.ToSlash(rel), sum)
	}
	return Key(parts...), nil
}
