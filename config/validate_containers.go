package config

import (
	"fmt"
	"math"
	"math/big"
	"reflect"
	"regexp"
	"strings"
)

// Container restart policies.
const (
	RestartAlways    = "always"
	RestartOnFailure = "on-failure"
	RestartNever     = "never"
)

var (
	containerNamePattern = tagPattern(reflect.TypeFor[Container](), "Name")
	envNamePattern       = tagPattern(reflect.TypeFor[Container](), "Env")
	// imageRefPattern is the OCI distribution reference grammar, simplified: an optional
	// registry host[:port], lower-case path components, then :tag and/or @sha256:digest.
	imageRefPattern = regexp.MustCompile(`^([a-zA-Z0-9.-]+(:[0-9]+)?/)?[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[0-9a-f]{64})?$`)
)

// capabilityNames are the Linux capabilities a container may keep (capabilities(7)).
var capabilityNames = map[string]bool{}

func init() {
	for _, c := range strings.Fields(`CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP
		LINUX_IMMUTABLE NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER SYS_MODULE
		SYS_RAWIO SYS_CHROOT SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE SYS_RESOURCE SYS_TIME
		SYS_TTY_CONFIG MKNOD LEASE AUDIT_WRITE AUDIT_CONTROL SETFCAP MAC_OVERRIDE MAC_ADMIN SYSLOG
		WAKE_ALARM BLOCK_SUSPEND AUDIT_READ PERFMON BPF CHECKPOINT_RESTORE`) {
		capabilityNames["CAP_"+c] = true
	}
}

func validateContainers(l *errorList, p string, list []Container) {
	seen := map[string]int{}
	for i := range list {
		at := fmt.Sprintf("%s[%d]", p, i)
		c := &list[i]
		if !containerNamePattern.MatchString(c.Name) || len(c.Name) > 63 {
			l.add(0, at+".name", "must be a DNS label (lower-case letters, digits and dashes, at most 63, no dash at either end), got %q", c.Name)
		} else if j, dup := seen[c.Name]; dup {
			l.add(0, at+".name", "%q is already the name of %s[%d]", c.Name, p, j)
		} else {
			seen[c.Name] = i
		}
		if !imageRefPattern.MatchString(c.Image) || len(c.Image) > 255 {
			l.add(0, at+".image", "must be an image reference (registry/name:tag or name@sha256:digest), got %q", c.Image)
		}
		for _, name := range sortedKeys(c.Env) {
			if !envNamePattern.MatchString(name) {
				l.add(0, mapEntryPath(at+".env", name), "must be a variable name (letters, digits and _, not starting with a digit)")
			}
		}
		switch c.Restart {
		case "", RestartAlways, RestartOnFailure, RestartNever:
		default:
			l.add(0, at+".restart", "must be %s, %s or %s, got %q", RestartAlways, RestartOnFailure, RestartNever, c.Restart)
		}
		c.Resources.validate(l, at+".resources")
		for j, capName := range c.Capabilities {
			if !capabilityNames[capName] {
				l.add(0, fmt.Sprintf("%s.capabilities[%d]", at, j), "%q is not a Linux capability name (CAP_NET_BIND_SERVICE, ...)", capName)
			}
		}
	}
}

func (r *ContainerResources) validate(l *errorList, p string) {
	if r.Memory != "" {
		if n, err := r.MemoryBytes(); err != nil {
			l.add(0, p+".memory", "%s", err)
		} else if n < 1<<20 {
			l.add(0, p+".memory", "%q is below the 1MiB a container needs", r.Memory)
		}
	}
	if r.CPU != "" {
		if _, err := r.CPUMillis(); err != nil {
			l.add(0, p+".cpu", "%s", err)
		}
	}
	if r.Pids < 0 {
		l.add(0, p+".pids", "must not be negative, got %d", r.Pids)
	}
}

// MemoryBytes is Memory in bytes; 0 when Memory is empty.
func (r ContainerResources) MemoryBytes() (int64, error) {
	if r.Memory == "" {
		return 0, nil
	}
	m, err := ParseSizeMatcher(r.Memory)
	if err != nil || m.Op != "==" || strings.ContainsAny(r.Memory, "<>=") {
		return 0, fmt.Errorf("%q is not a size (64MiB, 1GiB)", r.Memory)
	}
	return m.Size, nil
}

// CPUMillis is CPU in thousandths of a CPU (0.5 → 500); 0 when CPU is empty.
func (r ContainerResources) CPUMillis() (int64, error) {
	if r.CPU == "" {
		return 0, nil
	}
	q, ok := new(big.Rat).SetString(r.CPU)
	if !ok || q.Sign() < 0 || strings.ContainsAny(r.CPU, "/eE+-") {
		return 0, fmt.Errorf("%q is not a number of CPUs (0.5, 2)", r.CPU)
	}
	q.Mul(q, big.NewRat(1000, 1))
	f, _ := q.Float64()
	if f < 1 || f > math.MaxInt32 {
		return 0, fmt.Errorf("%q is out of range: from 0.001 CPUs up", r.CPU)
	}
	return int64(f), nil
}
