// Package kspp is Kiln's one table of Kernel Self Protection Project rules: the Kconfig
// symbols the kernel must be built with, the command-line parameters it must boot with and
// the sysctls machined must write. The builder checks the first kind (`kiln kernel check`),
// machined checks the other two at boot (phase EnforceKSPPRequirements).
//
// It is a shared leaf package: it imports nothing of the builder or of the node, and it
// never touches the running system itself; callers pass in what they read.
//
// Source of the recommendations: the KSPP "Recommended Settings" page
// (kernsec.org/wiki/index.php/Kernel_Self_Protection_Project/Recommended_Settings), read
// for x86-64 and checked against the Kconfig files of Debian's linux-source-6.1.
package kspp

// Kind is what a rule constrains.
type Kind int

const (
	// Kconfig rules are checked against the resolved .config.
	Kconfig Kind = iota
	// Cmdline rules are checked against /proc/cmdline (and the image spec's command line).
	Cmdline
	// Sysctl rules are written at boot and read back.
	Sysctl
)

func (k Kind) String() string {
	switch k {
	case Kconfig:
		return "kconfig"
	case Cmdline:
		return "cmdline"
	case Sysctl:
		return "sysctl"
	}
	return "unknown"
}

// Status says whether a rule is enforced.
type Status int

const (
	// Required rules must hold.
	Required Status = iota
	// NotApplicable rules do not exist on Linux 6.1 x86-64 or in Kiln's configuration.
	NotApplicable
	// Exception rules apply but Kiln deliberately does not follow them; Why says why.
	Exception
)

func (s Status) String() string {
	switch s {
	case Required:
		return "required"
	case NotApplicable:
		return "n/a"
	case Exception:
		return "exception"
	}
	return "unknown"
}

// Rule is one recommendation.
type Rule struct {
	Kind Kind
	// Name is a Kconfig symbol with its CONFIG_ prefix, a command-line parameter name, or a
	// sysctl in its one canonical dotted form (kernel.kptr_restrict; SysctlNamePattern).
	Name string
	// Value is what the rule wants: "y", "n", a number or a string for Kconfig; the value
	// after "=" for a parameter ("" for a bare flag such as slab_nomerge); the sysctl value.
	Value string
	// Reason says what the setting protects against.
	Reason string
	Status Status
	// Why explains a NotApplicable or Exception status.
	Why string
}

// Rules returns the whole table, in a stable order.
func Rules() []Rule {
	out := make([]Rule, 0, len(kconfigRules)+len(cmdlineRules)+len(sysctlRules))
	out = append(out, kconfigRules...)
	out = append(out, cmdlineRules...)
	return append(out, sysctlRules...)
}

// Of returns the rules of one kind with the given status.
func Of(kind Kind, status Status) []Rule {
	var out []Rule
	for _, r := range Rules() {
		if r.Kind == kind && r.Status == status {
			out = append(out, r)
		}
	}
	return out
}
