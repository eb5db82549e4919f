// Package hardening is machined's EnforceKSPPRequirements phase: it checks the kernel
// command line and writes then reads back the hardening sysctls, both from the one KSPP
// table in kernel/kspp. A missing parameter or a sysctl that does not hold stops the boot
// with an error naming it.
//
// It reads /proc/cmdline and writes /proc/sys only, by canonical sysctl name (kspp) and
// through an os.Root, so that nothing outside /proc/sys is ever opened; the roots are
// parameters for tests.
package hardening

import (
	"errors"
	"fmt"
	"io"
	"os"
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

// WriteSysctl writes one sysctl that is not a KSPP rule (the machine config's). The name
// must be in kspp's canonical form: configstate's guard compares names as strings, so a
// second spelling of a KSPP sysctl must never reach its file (issue 12, hole 7).
func WriteSysctl(procSys, name, value string) error {
	if err := writeSysctl(procSys, name, value); err != nil {
		return fmt.Errorf("sysctl %s=%s: %w", name, value, err)
	}
	return nil
}

// ReadSysctl reads one sysctl by canonical name, without the trailing newline.
func ReadSysctl(procSys, name string) (string, error) {
	f, err := openSysctl(procSys, name, os.O_RDONLY)
	if err != nil {
		return "", fmt.Errorf("sysctl %s: %w", name, err)
	}
	defer f.Close()
	data, err := io.ReadAll(f)
	if err != nil {
		return "", fmt.Errorf("sysctl %s: %w", name, err)
	}
	return strings.TrimSpace(string(data)), nil
}

func writeSysctl(procSys, name, value string) error {
	f, err := openSysctl(procSys, name, os.O_WRONLY|os.O_TRUNC)
	if err != nil {
		return err
	}
	_, err = f.WriteString(value + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// openSysctl opens the file of a canonical sysctl name through an os.Root at procSys, so
// that no name, link or race can open a file outside it, and never creates one: /proc/sys
// has a fixed set of files, and a name the kernel lacks is a mistake to report.
func openSysctl(procSys, name string, flag int) (*os.File, error) {
	if err := kspp.CheckSysctlName(name); err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(procSys)
	if err != nil {
		return nil, err
	}
	defer root.Close() // the opened file stays valid: Close only ends the Root's own lookups
	return root.OpenFile(kspp.SysctlPath(name), flag, 0)
}

func applySysctl(procSys string, rule kspp.Rule) error {
	if err := writeSysctl(procSys, rule.Name, rule.Value); err != nil {
		return fmt.Errorf("%w: sysctl %s=%s: %w", ErrRequirement, rule.Name, rule.Value, err)
	}
	got, err := ReadSysctl(procSys, rule.Name)
	if err != nil {
		return fmt.Errorf("%w: read back: %w", ErrRequirement, err)
	}
	if r := kspp.CheckSysctl(rule, got); r.Failed() {
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
		got, err := ReadSysctl(procSys, rule.Name)
		if err != nil {
			out[rule.Name] = "(absent)"
			continue
		}
		out[rule.Name] = got
	}
	return out
}
