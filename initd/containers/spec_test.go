package containers

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

var testFiles = specFiles{Hosts: "/run/kiln/containers/web/hosts", ResolvConf: "/run/kiln/containers/web/resolv.conf"}

func mustSpec(t *testing.T, s Spec, img ocispec.ImageConfig) *specs.Spec {
	t.Helper()
	rs, err := runtimeSpec(s, img, testFiles)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func TestSpecDefaults(t *testing.T) {
	rs := mustSpec(t, Spec{ID: "web", Image: "kiln.test/web:1"}, ocispec.ImageConfig{Cmd: []string{"/web"}})
	c := rs.Process.Capabilities
	if len(c.Bounding)+len(c.Effective)+len(c.Permitted)+len(c.Inheritable)+len(c.Ambient) != 0 {
		t.Errorf("capabilities %+v, want none", c)
	}
	if !rs.Root.Readonly || rs.Root.Path != "rootfs" {
		t.Errorf("root %+v", rs.Root)
	}
	if !rs.Process.NoNewPrivileges {
		t.Error("noNewPrivileges is off")
	}
	if rs.Hostname != "web" || rs.Linux.CgroupsPath != "/kiln/containers/web" {
		t.Errorf("hostname %q cgroupsPath %q", rs.Hostname, rs.Linux.CgroupsPath)
	}
	if rs.Process.Cwd != "/" || rs.Process.User.UID != 0 {
		t.Errorf("cwd %q user %+v", rs.Process.Cwd, rs.Process.User)
	}
	r := rs.Linux.Resources
	if r.Memory != nil || r.CPU != nil || r.Pids != nil {
		t.Errorf("limits without a config: %+v", r)
	}
	var types []specs.LinuxNamespaceType
	for _, n := range rs.Linux.Namespaces {
		types = append(types, n.Type)
	}
	if slices.Contains(types, specs.NetworkNamespace) || len(types) != 5 {
		t.Errorf("namespaces %v", types)
	}
	if rs.Linux.Seccomp == nil || !slices.Contains(rs.Linux.Seccomp.Syscalls[0].Names, "mount") {
		t.Errorf("seccomp does not deny mount: %+v", rs.Linux.Seccomp)
	}
	if !slices.Contains(rs.Linux.MaskedPaths, "/proc/kcore") || !slices.Contains(rs.Linux.ReadonlyPaths, "/proc/sys") {
		t.Error("masked or readonly paths missing")
	}
	// The spec is what containerd receives: it must encode.
	if _, err := json.Marshal(rs); err != nil {
		t.Fatal(err)
	}
}

func TestSpecLimitsAndCaps(t *testing.T) {
	rs := mustSpec(t, Spec{ID: "web", Image: "i/w:1", MemoryBytes: 64 << 20, CPUMillis: 500, Pids: 100,
		WritableRoot: true, Capabilities: []string{"CAP_NET_BIND_SERVICE", "CAP_SYS_ADMIN"}},
		ocispec.ImageConfig{Cmd: []string{"/web"}})
	r := rs.Linux.Resources
	if *r.Memory.Limit != 64<<20 || *r.CPU.Quota != 50000 || *r.CPU.Period != 100000 || *r.Pids.Limit != 100 {
		t.Errorf("limits %+v %+v %+v", *r.Memory.Limit, *r.CPU, *r.Pids.Limit)
	}
	if rs.Root.Readonly {
		t.Error("root readonly with WritableRoot")
	}
	want := []string{"CAP_NET_BIND_SERVICE", "CAP_SYS_ADMIN"}
	c := rs.Process.Capabilities
	for _, got := range [][]string{c.Bounding, c.Effective, c.Permitted} {
		if !reflect.DeepEqual(got, want) {
			t.Errorf("capabilities %v, want %v", got, want)
		}
	}
	if slices.Contains(rs.Linux.Seccomp.Syscalls[0].Names, "mount") {
		t.Error("mount denied though CAP_SYS_ADMIN is kept")
	}
}

func TestSpecArgsEnv(t *testing.T) {
	img := ocispec.ImageConfig{Entrypoint: []string{"/bin/app", "-v"}, Cmd: []string{"serve"}, // hostdeps:node (a path in a container)
		Env: []string{"PATH=/bin", "A=1", "B=2"}, WorkingDir: "/srv", User: "1000:2000"}
	tests := []struct {
		name     string
		args     []string
		env      []string
		wantArgs []string
		wantEnv  []string
	}{
		{"image", nil, nil, []string{"/bin/app", "-v", "serve"}, []string{"PATH=/bin", "A=1", "B=2"}},                                            // hostdeps:node (a path in a container)
		{"args replace cmd", []string{"check", "--all"}, nil, []string{"/bin/app", "-v", "check", "--all"}, []string{"PATH=/bin", "A=1", "B=2"}}, // hostdeps:node (a path in a container)
		{"empty args drop cmd", []string{}, nil, []string{"/bin/app", "-v"}, []string{"PATH=/bin", "A=1", "B=2"}},                                // hostdeps:node (a path in a container)
		{"env overrides and adds", nil, []string{"B=3", "C=4"}, []string{"/bin/app", "-v", "serve"}, []string{"PATH=/bin", "A=1", "B=3", "C=4"}}, // hostdeps:node (a path in a container)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := mustSpec(t, Spec{ID: "a", Image: "i/a:1", Args: tt.args, Env: tt.env}, img)
			if !reflect.DeepEqual(rs.Process.Args, tt.wantArgs) {
				t.Errorf("args %q, want %q", rs.Process.Args, tt.wantArgs)
			}
			if !reflect.DeepEqual(rs.Process.Env, tt.wantEnv) {
				t.Errorf("env %q, want %q", rs.Process.Env, tt.wantEnv)
			}
			if rs.Process.Cwd != "/srv" || rs.Process.User.UID != 1000 || rs.Process.User.GID != 2000 {
				t.Errorf("cwd %q user %+v", rs.Process.Cwd, rs.Process.User)
			}
		})
	}
	rs := mustSpec(t, Spec{ID: "a", Image: "i/a:1"}, ocispec.ImageConfig{Cmd: []string{"/a"}})
	if rs.Process.Env[0] != defaultPath {
		t.Errorf("no default PATH: %q", rs.Process.Env)
	}
}

func TestSpecRejects(t *testing.T) {
	tests := []struct {
		name string
		img  ocispec.ImageConfig
		want string
	}{
		{"user name", ocispec.ImageConfig{Cmd: []string{"/a"}, User: "nobody"}, `user "nobody" is not numeric`},
		{"group name", ocispec.ImageConfig{Cmd: []string{"/a"}, User: "1:staff"}, `group is not numeric`},
		{"nothing to run", ocispec.ImageConfig{}, "no entrypoint or command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := runtimeSpec(Spec{ID: "a", Image: "i/a:1"}, tt.img, testFiles)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "i/a:1") {
				t.Errorf("err = %v, want %q and the image", err, tt.want)
			}
		})
	}
}

// No mount brings in anything of the node's but the container's own files, and never
// /system/state.
func TestSpecMountSources(t *testing.T) {
	rs := mustSpec(t, Spec{ID: "web", Image: "i/w:1"}, ocispec.ImageConfig{Cmd: []string{"/web"}})
	for _, m := range rs.Mounts {
		if strings.HasPrefix(m.Source, "/system") {
			t.Errorf("mount %s from %s", m.Destination, m.Source)
		}
		if m.Type == "bind" {
			if !strings.HasPrefix(m.Source, "/run/kiln/containers/web/") || !slices.Contains(m.Options, "ro") {
				t.Errorf("bind mount %+v", m)
			}
		}
	}
	for _, d := range []string{"/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/sys/fs/cgroup", "/etc/hosts", "/etc/resolv.conf"} { // hostdeps:node (a path in a container)
		if !slices.ContainsFunc(rs.Mounts, func(m specs.Mount) bool { return m.Destination == d }) {
			t.Errorf("no mount on %s", d)
		}
	}
}
