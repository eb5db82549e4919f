package containers

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// defaultPath is the PATH a container gets when its image sets none (the value
// containerd and Docker use).
const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Open files: a soft limit of 1024 keeps programs that still use select(2) (FD_SETSIZE
// is 1024) safe, and a hard limit of 65536 lets a server raise it (Go does so itself at
// start) without letting one container pin a large share of the kernel's file table.
const (
	nofileSoft = 1024
	nofileHard = 65536
)

// cpuPeriod is the CFS period (µs) CPU limits are expressed in: a quota of
// CPUMillis*100 µs per 100 ms period is CPUMillis/1000 CPUs.
const cpuPeriod = 100000

// specFiles are the host files a container's spec bind-mounts, made per container.
type specFiles struct {
	Hosts      string // the container's /etc/hosts
	ResolvConf string // the container's /etc/resolv.conf
}

// maskedPaths and readonlyPaths hide the parts of /proc and /sys that describe or
// control the host (runtime-spec config-linux.md, "Masked Paths" and "Readonly Paths");
// the same places runc's and containerd's default specs cover.
var (
	maskedPaths = []string{
		"/proc/acpi", "/proc/asound", "/proc/interrupts", "/proc/kcore", "/proc/keys",
		"/proc/latency_stats", "/proc/sched_debug", "/proc/scsi", "/proc/timer_list",
		"/proc/timer_stats", "/sys/devices/virtual/powercap", "/sys/firmware",
	}
	readonlyPaths = []string{
		"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
	}
)

// deniedSyscalls answer EPERM under Kiln's seccomp profile. The profile allows by
// default and denies a short list: a full allow-list (Docker's runs to 400 entries with
// argument filters) is more than can be kept right here, and this list removes what a
// workload without capabilities must never reach even if a kernel bug lets it: module
// and kexec loading, BPF and perf, keyrings, userfaultfd and io_uring (the source of many
// recent kernel escapes), the clock, swap and reboot, handle-based opens, ptrace-like
// memory access to other processes, and the obsolete or x86-only calls.
var deniedSyscalls = []string{
	"acct", "add_key", "bpf", "clock_adjtime", "clock_settime", "create_module",
	"delete_module", "finit_module", "get_kernel_syms", "init_module",
	"io_uring_enter", "io_uring_register", "io_uring_setup", "ioperm", "iopl", "kcmp",
	"kexec_file_load", "kexec_load", "keyctl", "lookup_dcookie",
	"name_to_handle_at", "nfsservctl", "open_by_handle_at", "perf_event_open",
	"process_vm_readv", "process_vm_writev", "query_module", "quotactl", "reboot",
	"request_key", "settimeofday", "stime", "swapoff", "swapon",
	"syslog", "_sysctl", "sysfs", "uselib", "userfaultfd", "ustat", "vm86", "vm86old",
	"adjtimex",
}

// mountSyscalls are denied unless the container keeps CAP_SYS_ADMIN, which they need
// anyway: a container without it has no reason to build mount or namespace trees.
var mountSyscalls = []string{
	"fsconfig", "fsmount", "fsopen", "fspick", "mount", "mount_setattr", "move_mount",
	"open_tree", "pivot_root", "setns", "umount", "umount2", "unshare",
}

// runtimeSpec builds the OCI runtime spec (runtime-spec config.md, config-linux.md) of
// spec on the image config img. It is pure: the same inputs give the same spec.
func runtimeSpec(spec Spec, img ocispec.ImageConfig, files specFiles) (*specs.Spec, error) {
	args := append(slices.Clone(img.Entrypoint), img.Cmd...)
	if spec.Args != nil {
		args = append(slices.Clone(img.Entrypoint), spec.Args...)
	}
	if len(args) == 0 {
		return nil, fmt.Errorf("container %s: image %s has no entrypoint or command, and the config gives no args", spec.ID, spec.Image)
	}
	user, err := imageUser(img.User)
	if err != nil {
		return nil, fmt.Errorf("container %s: image %s: %w", spec.ID, spec.Image, err)
	}
	caps := slices.Clone(spec.Capabilities)
	cwd := img.WorkingDir
	if cwd == "" {
		cwd = "/"
	}
	s := &specs.Spec{
		Version: specs.Version,
		Process: &specs.Process{
			Args: args,
			Env:  mergeEnv(img.Env, spec.Env),
			Cwd:  cwd,
			User: user,
			Capabilities: &specs.LinuxCapabilities{
				Bounding: caps, Effective: caps, Permitted: caps,
			},
			Rlimits:         []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: nofileSoft, Hard: nofileHard}},
			NoNewPrivileges: true,
		},
		Root:     &specs.Root{Path: "rootfs", Readonly: !spec.WritableRoot},
		Hostname: spec.ID,
		Mounts:   containerMounts(files),
		Linux: &specs.Linux{
			// No network namespace: containers share the node's network until Kubernetes
			// brings CNI; a workload's port is the node's port.
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace}, {Type: specs.IPCNamespace}, {Type: specs.UTSNamespace},
				{Type: specs.MountNamespace}, {Type: specs.CgroupNamespace},
			},
			CgroupsPath:   CgroupParent + "/" + spec.ID,
			Resources:     linuxResources(spec),
			MaskedPaths:   slices.Clone(maskedPaths),
			ReadonlyPaths: slices.Clone(readonlyPaths),
			Seccomp:       seccompProfile(caps),
		},
	}
	return s, nil
}

// imageUser reads the image's USER: empty (root), uid or uid:gid, numeric (Start has
// looked names up in the image's /etc/passwd and /etc/group: resolveUser).
func imageUser(u string) (specs.User, error) {
	if u == "" {
		return specs.User{}, nil
	}
	uidText, gidText, hasGID := strings.Cut(u, ":")
	uid, err := strconv.ParseUint(uidText, 10, 32)
	if err != nil {
		return specs.User{}, fmt.Errorf("user %q is not numeric (uid or uid:gid, such as USER 65532:65532 in the image)", u)
	}
	var gid uint64
	if hasGID {
		if gid, err = strconv.ParseUint(gidText, 10, 32); err != nil {
			return specs.User{}, fmt.Errorf("user %q: group is not numeric (uid or uid:gid, such as USER 65532:65532 in the image)", u)
		}
	}
	return specs.User{UID: uint32(uid), GID: uint32(gid)}, nil
}

// mergeEnv is the image's environment with over's variables replacing or added to it:
// the image's order first, then new names in over's order. PATH is set if neither has it.
func mergeEnv(image, over []string) []string {
	var out []string
	at := map[string]int{}
	set := func(kv string) {
		name, _, _ := strings.Cut(kv, "=")
		if i, ok := at[name]; ok {
			out[i] = kv
			return
		}
		at[name] = len(out)
		out = append(out, kv)
	}
	for _, kv := range image {
		set(kv)
	}
	for _, kv := range over {
		set(kv)
	}
	if _, ok := at["PATH"]; !ok {
		out = append([]string{defaultPath}, out...)
	}
	return out
}

// containerMounts are the container's filesystems beside its root: the kernel's
// (runtime-spec config-linux.md lists /proc, /sys, /dev, /dev/pts, /dev/shm, /dev/mqueue
// for a Linux container), and its own hosts and resolv.conf read-only. Nothing of the
// node's (and never /system/state) is bound in.
func containerMounts(files specFiles) []specs.Mount {
	return []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}},
		{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
		{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
		{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}},
		{Destination: "/etc/hosts", Type: "bind", Source: files.Hosts, Options: []string{"rbind", "ro", "nosuid", "nodev", "noexec"}},
		{Destination: "/etc/resolv.conf", Type: "bind", Source: files.ResolvConf, Options: []string{"rbind", "ro", "nosuid", "nodev", "noexec"}},
	}
}

// linuxResources are the cgroup limits; devices are denied but for runc's defaults (null,
// zero, full, random, urandom, tty, ptmx), which runc adds itself.
func linuxResources(spec Spec) *specs.LinuxResources {
	r := &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}}
	if spec.MemoryBytes > 0 {
		limit := spec.MemoryBytes
		r.Memory = &specs.LinuxMemory{Limit: &limit}
	}
	if spec.CPUMillis > 0 {
		quota, period := spec.CPUMillis*100, uint64(cpuPeriod)
		r.CPU = &specs.LinuxCPU{Quota: &quota, Period: &period}
	}
	if spec.Pids > 0 {
		limit := spec.Pids
		r.Pids = &specs.LinuxPids{Limit: &limit}
	}
	return r
}

// seccompProfile allows by default and answers EPERM to deniedSyscalls (and to
// mountSyscalls unless CAP_SYS_ADMIN is kept). The three x86 ABIs are listed so a
// 32-bit or x32 entry point meets the same list.
func seccompProfile(caps []string) *specs.LinuxSeccomp {
	eperm := uint(1)
	names := slices.Clone(deniedSyscalls)
	if !slices.Contains(caps, "CAP_SYS_ADMIN") {
		names = append(names, mountSyscalls...)
	}
	slices.Sort(names)
	return &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32},
		Syscalls:      []specs.LinuxSyscall{{Names: names, Action: specs.ActErrno, ErrnoRet: &eperm}},
	}
}
