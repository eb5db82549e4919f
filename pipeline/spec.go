package pipeline

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/kiln-os/kiln/internal/strictyaml"
)

// DefaultCmdline is the kernel command line of an image whose spec names none: the KSPP
// boot parameters (kernel/kspp) plus the serial console and a reboot 10 s after a panic,
// which is what lets systemd-boot's boot counting fall back to the previous UKI.
const DefaultCmdline = "console=ttyS0 panic=10 oops=panic slab_nomerge init_on_alloc=1 init_on_free=1 " +
	"page_alloc.shuffle=1 pti=on randomize_kstack_offset=on vsyscall=none debugfs=off " +
	"lockdown=confidentiality iommu=force iommu.strict=1 iommu.passthrough=0 " +
	"proc_mem.force_override=never mitigations=auto,nosmt"

// Spec is kiln.yaml: what image to build. Every field has a default.
type Spec struct {
	// Name is the OS name written to os-release (ID) and artifact names.
	Name string `yaml:"name"`
	// Version is the image version: os-release VERSION_ID, machined's version, UKI names.
	Version string `yaml:"version"`
	// SourceDateEpoch fixes every timestamp the build writes; 0 means SOURCE_DATE_EPOCH from
	// the environment, else the time of the last git commit.
	SourceDateEpoch int64      `yaml:"sourceDateEpoch"`
	Kernel          KernelSpec `yaml:"kernel"`
	Rootfs          RootfsSpec `yaml:"rootfs"`
	UKI             UKISpec    `yaml:"uki"`
	Kubernetes      KubeSpec   `yaml:"kubernetes"`
	Output          string     `yaml:"output"`
}

// KubeSpec says whether the image carries Kubernetes.
type KubeSpec struct {
	// Payload builds the Kubernetes payload (etcd, the control plane, the kubelet, the
	// CRI containerd, CNI plugins; docs/kubernetes.md), puts it on the disk's and the ISO's
	// ESP and pins its digest in the root. Without it a node cannot join a cluster.
	Payload bool `yaml:"payload"`
}

// UKISpec bounds the signed image.
type UKISpec struct {
	// MaxBytes is the UKI's size budget: the build fails above it, naming the largest
	// parts. Firmware reads the whole file before it can check the signature, so every
	// byte is boot time (DefaultUKIMaxBytes: issue 15's budget with the container runtime).
	MaxBytes int64 `yaml:"maxBytes"`
}

// DefaultUKIMaxBytes is the UKI budget with containerd and runc in the image.
const DefaultUKIMaxBytes = 25_000_000

// KernelSpec says how to build and boot the kernel.
type KernelSpec struct {
	// Fragments is the directory of Kconfig fragments.
	Fragments string `yaml:"fragments"`
	// Cmdline is the kernel command line baked into the image.
	Cmdline string `yaml:"cmdline"`
}

// RootfsSpec says how to pack the root filesystem and the initramfs.
type RootfsSpec struct {
	// Compression of the squashfs root: zstd.
	Compression string `yaml:"compression"`
}

// Defaults returns the spec of an empty kiln.yaml.
func Defaults() Spec {
	return Spec{
		Name:       "kiln",
		Version:    "0.1.0",
		Kernel:     KernelSpec{Fragments: "kernel/config", Cmdline: DefaultCmdline},
		Rootfs:     RootfsSpec{Compression: "zstd"},
		UKI:        UKISpec{MaxBytes: DefaultUKIMaxBytes},
		Kubernetes: KubeSpec{Payload: true},
		Output:     "_out",
	}
}

// SpecError is a problem with one place of the spec file.
type SpecError struct {
	File  string
	Line  int
	Field string
	Msg   string
}

func (e *SpecError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s: %s", e.File, e.Line, e.Field, e.Msg)
}

// LoadSpec reads and validates a spec file.
func LoadSpec(path string) (Spec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return Spec{}, fmt.Errorf("%s: no such spec file (create it or pass -f FILE)", path)
		}
		return Spec{}, err
	}
	return ParseSpec(path, data)
}

// ParseSpec decodes strictly (unknown fields and wrong types are errors that name the field
// and line) over the defaults, then validates.
func ParseSpec(name string, data []byte) (Spec, error) {
	spec := Defaults()
	root, err := strictyaml.Parse(data)
	if errors.Is(err, strictyaml.ErrEmpty) {
		return spec, nil // an empty file is all defaults
	}
	if err != nil {
		return Spec{}, parseError(name, err)
	}
	if problems := strictyaml.Decode(root, &spec); len(problems) > 0 {
		return Spec{}, decodeError(name, problems[0])
	}
	if err := spec.validate(name, root); err != nil {
		return Spec{}, err
	}
	return spec, nil
}

// parseError places a YAML syntax error in the spec file; a document with no line
// (several documents) is placed on line 1.
func parseError(name string, err error) error {
	var syntax *strictyaml.SyntaxError
	if errors.As(err, &syntax) {
		return &SpecError{File: name, Line: max(syntax.Line, 1), Msg: "YAML syntax: " + syntax.Msg}
	}
	if errors.Is(err, strictyaml.ErrDocuments) {
		return &SpecError{File: name, Line: 1, Msg: "more than one YAML document (---): give exactly one"}
	}
	return err
}

// decodeError reports the first problem the decoder found: a SpecError is one place, and
// the user fixes one field at a time anyway.
func decodeError(name string, first strictyaml.Problem) error {
	field := first.Path
	if field == "" {
		field = "(document)"
	}
	return &SpecError{File: name, Line: first.Line, Field: field, Msg: first.Reason}
}

var (
	versionRe = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z.~^_-]*$`)
	nameRe    = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)
)

// validate checks values; errors point at the line of the offending field.
func (s Spec) validate(file string, root *yaml.Node) error {
	bad := func(field, msg string) error {
		return &SpecError{File: file, Line: lineOf(root, field), Field: field, Msg: msg}
	}
	switch {
	case !nameRe.MatchString(s.Name):
		return bad("name", fmt.Sprintf("%q must be lower-case letters, digits, '.', '_' or '-'", s.Name))
	case !versionRe.MatchString(s.Version) || strings.Contains(s.Version, "+"):
		return bad("version", fmt.Sprintf("%q must be letters, digits, '.', '~', '^', '_' or '-' (no '+': it is the boot counter's separator)", s.Version))
	case s.SourceDateEpoch < 0:
		return bad("sourceDateEpoch", "must be >= 0 (0 = from SOURCE_DATE_EPOCH or the last commit)")
	case strings.TrimSpace(s.Kernel.Cmdline) == "":
		return bad("kernel.cmdline", "must not be empty")
	case s.Kernel.Fragments == "":
		return bad("kernel.fragments", "must name the directory of Kconfig fragments")
	case s.Rootfs.Compression != "zstd":
		return bad("rootfs.compression", fmt.Sprintf("%q is not supported (supported: zstd)", s.Rootfs.Compression))
	case s.UKI.MaxBytes <= 0:
		return bad("uki.maxBytes", fmt.Sprintf("%d must be a positive number of bytes", s.UKI.MaxBytes))
	case s.Output == "":
		return bad("output", "must name the output directory")
	}
	return nil
}

// lineOf finds the line of a dotted field in the document, or the document's line.
func lineOf(root *yaml.Node, field string) int {
	node := root
	for _, key := range strings.Split(field, ".") {
		next := (*yaml.Node)(nil)
		for i := 0; node.Kind == yaml.MappingNode && i+1 < len(node.Content); i += 2 {
			if node.Content[i].Value == key {
				next = node.Content[i+1]
			}
		}
		if next == nil {
			return node.Line
		}
		node = next
	}
	return node.Line
}

// Validate checks a spec changed after loading (kiln build --version, --output); errors
// name the field as a flag would.
func (s Spec) Validate() error {
	return s.validate("flags", &yaml.Node{})
}
