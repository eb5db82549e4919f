package kspp

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"
)

// SysctlNamePattern is the one canonical spelling of a sysctl name, used by the KSPP
// table, the config's machine.sysctls (and its JSON Schema), the guard that keeps a config
// from weakening a KSPP sysctl, the writer under /proc/sys and the SysctlStatus resource:
// lower-case segments of letters, digits, '_' and '-', joined by single dots
// (kernel.kptr_restrict).
//
// Why one spelling: the kernel maps a/b/c under /proc/sys and sysctl(8) also accepts
// slashes (sysctl.d(5)), so "kernel/kptr_restrict", "kernel./kptr_restrict" or
// "kernel.kptr_restrict." name the same file as the table's "kernel.kptr_restrict". A
// guard that compares strings while the writer resolves paths is bypassed by spelling
// (issue 12, hole 7). With exactly one accepted form, string equality is file equality, and
// no name can hold "..", a slash or an empty segment that would lead out of /proc/sys.
//
// The cost: a segment cannot hold a dot or an upper-case letter, so per-interface keys of
// a VLAN such as eth0.100 (net.ipv4.conf.eth0/100.rp_filter in sysctl.d(5)) cannot be set
// through the config.
const SysctlNamePattern = `^[a-z0-9_-]+(\.[a-z0-9_-]+)*$`

var sysctlName = regexp.MustCompile(SysctlNamePattern)

// ErrSysctlName is wrapped by every refusal of CheckSysctlName.
var ErrSysctlName = errors.New("sysctl name not in canonical form")

// CheckSysctlName returns nil for a canonical sysctl name. Otherwise the error says the
// canonical form to write instead when the name has one, or that the name leads out of
// /proc/sys when it does not.
func CheckSysctlName(name string) error {
	if sysctlName.MatchString(name) {
		return nil
	}
	want, ok := canonicalSysctl(name)
	if !ok {
		return fmt.Errorf("%w: %q has none (it climbs out of /proc/sys or holds other characters); write lower-case letters, digits, _ and - in segments joined by single dots (net.ipv4.ip_forward)", ErrSysctlName, name)
	}
	return fmt.Errorf("%w: %q; write %q", ErrSysctlName, name, want)
}

// canonicalSysctl is the canonical spelling of the /proc/sys file name names, as
// sysctl(8) would read it with dots and slashes both separators, and false when there is
// none: it climbs out with "..", or what is left is still not a valid name (other
// characters, nothing at all).
func canonicalSysctl(name string) (string, bool) {
	slashed := strings.ReplaceAll(strings.ToLower(strings.TrimSpace(name)), ".", "/")
	// Any ".." is gone in slashed form (dots became slashes), so look at the original.
	for _, seg := range strings.Split(name, "/") {
		if strings.TrimSpace(seg) == ".." {
			return "", false
		}
	}
	cleaned := strings.Trim(path.Clean("/"+slashed), "/")
	dotted := strings.ReplaceAll(cleaned, "/", ".")
	return dotted, sysctlName.MatchString(dotted)
}

// SysctlPath is the file of a canonical sysctl name relative to /proc/sys
// (kernel/kptr_restrict). Callers check the name with CheckSysctlName first.
func SysctlPath(name string) string { return strings.ReplaceAll(name, ".", "/") }
