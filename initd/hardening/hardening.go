// Package hardening is machined's EnforceKSPPRequirements phase: it checks the kernel
// command line and writes then reads back the hardening sysctls, both from the one KSPP
// table in kernel/kspp. A missing parameter or a sysctl that does not hold stops the boot
// with an error naming it.
//
// It reads /proc/cmdline and writes /proc/sys only; the roots are parameters for tests.
package hardening

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/kiln-os/kiln/kernel/kspp"
)

// ErrRequirement is wrapped by every failure of this package.
var ErrRequirement = errors.New("KSPP requirement not met")

// CheckCmdline reads the command line at path (/proc/cmdline) and fails naming every required
// parameter that is missing or has another value.
func CheckCmdline(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	failed := kspp.Failures(kspp.CheckCmdline(string(data)))
	if len(failed) == 0 {
		return nil
	}
	parts := make([]string, len(failed))
	for i, f := range failed {
		want := f.Name
		if f.Value != "" {
			want += "=" + f.Value
		}
		parts[i] = fmt.Sprintf("%s (got %s)", want, f.Got)
	}
	return fmt.Errorf("%w: kernel command line lacks %s", ErrRequirement, strings.Join(parts, ", "))
}

// ApplySysctls writes every required sysctl under procSys (/proc/sys) and reads it back.
func ApplySysctls(procSys string, logf func(string, ...any)) error {
	var errs []error
	for _, rule := range kspp.Of(kspp.Sysctl, kspp.Required) {
		if err := applySysctl(procSys, rule); err != nil {
			errs = append(errs, err)
			continue
		}
		logf("sysctl %s = %s", rule.Name, rule.Value)
	}
	return errors.Join(errs...)
}

// SysctlPath is the /proc/sys file of a dotted sysctl name under procSys.
func SysctlPath(procSys, name string) string {
	return filepath.Join(procSys, strings.ReplaceAll(name, ".", "/"))
}

// WriteSysctl writes one sysctl that is not a KSPP rule (the machine config's).
func WriteSysctl(procSys, name, value string) error {
	if err := os.WriteFile(SysctlPath(procSys, name), []byte(value+"\n"), 0o644); err != nil {
		return fmt.Errorf("sysctl %s=%s: %w", name, value, err)
	}
	return nil
}

func applySysctl(procSys string, rule kspp.Rule) error {
	path := SysctlPath(procSys, rule.Name)
	if err := os.WriteFile(path, []byte(rule.Value+"\n"), 0o644); err != nil {
		return fmt.Errorf("%w: sysctl %s=%s: %v", ErrRequirement, rule.Name, rule.Value, err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("%w: sysctl %s: read back: %v", ErrRequirement, rule.Name, err)
	}
	if r := kspp.CheckSysctl(rule, string(got)); r.Failed() {
		return fmt.Errorf("%w: sysctl %s: wrote %s, read back %s", ErrRequirement, rule.Name, rule.Value, r.Got)
	}
	return nil
}

// ReadSysctls returns the current value of every sysctl the table names (required or not),
// "(absent)" for those the kernel does not have.
func ReadSysctls(procSys string) map[string]string {
	out := map[string]string{}
	for _, rule := range kspp.Rules() {
		if rule.Kind != kspp.Sysctl {
			continue
		}
		got, err := os.ReadFile(SysctlPath(procSys, rule.Name))
		if err != nil {
			out[rule.Name] = "(absent)"
			continue
		}
		out[rule.Name] = strings.TrimSpace(string(got))
	}
	return out
}
