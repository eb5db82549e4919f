package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kiln-os/kiln/bootloader/keys"
	"github.com/kiln-os/kiln/kernel"
	"github.com/kiln-os/kiln/kernel/kspp"
	"github.com/kiln-os/kiln/uki/pcrsig"
	"github.com/kiln-os/kiln/uki/pe"
)

// Build is one run of the pipeline. Inputs are exported; Run fills Manifest.
type Build struct {
	Spec Spec
	// RepoDir is the checkout the build reads (fragments, Go sources); default ".".
	RepoDir string
	// CacheDir is $KILN_CACHE.
	CacheDir string
	// KeysDir holds the signing keys (default RepoDir/_keys); never inside the cache or _out.
	KeysDir string
	// GenerateKeys makes a new key set when KeysDir has none, instead of failing.
	GenerateKeys bool
	Log          logrus.FieldLogger

	// Manifest is what Run wrote to OutDir/manifest.json.
	Manifest *Manifest
}

// ErrNoEpoch is returned when no SOURCE_DATE_EPOCH can be found: the build never falls back
// to the clock.
var ErrNoEpoch = errors.New("pipeline: no SOURCE_DATE_EPOCH: set sourceDateEpoch in the spec, export SOURCE_DATE_EPOCH, or build from a git checkout with at least one commit")

// step is one named stage; it reads what earlier steps put in the state and adds its own.
type step struct {
	name string
	run  func(ctx context.Context, st *state) error
}

// state carries the outputs of earlier steps to later ones and the artifacts to publish.
type state struct {
	b           *Build
	epoch       int64
	staging     string
	artifacts   map[string]string // artifact name → path in staging
	kernel      *kernel.Result
	machined    string
	rootfs      string
	initramfs   string
	keys        *keys.Set
	uki         string
	ukiSections []pe.Section
	pcr11       pcrsig.Predictions
	systemdBoot string
}

// steps is the pipeline, in order. Keys come first: a build without them must fail before
// a ten-minute kernel build, not after.
var steps = []step{
	{"keys", stepKeys},
	{"kernel", stepKernel},
	{"binaries", stepBinaries},
	{"rootfs", stepRootfs},
	{"initramfs", stepInitramfs},
	{"uki", stepUKI},
	{"bootloader", stepBootloader},
	{"disk", stepDisk},
	{"iso", stepISO},
}

// Run builds every artifact into a staging directory beside the output directory, then
// moves them into place and writes the manifest last. A failed build leaves the output
// directory as it was (apart from the kernel build log under logs/).
func (b *Build) Run(ctx context.Context) error {
	if b.RepoDir == "" {
		b.RepoDir = "."
	}
	if b.Log == nil {
		b.Log = logrus.StandardLogger()
	}
	epoch, err := b.sourceDateEpoch(ctx)
	if err != nil {
		return err
	}
	out := b.outDir()
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	staging, err := os.MkdirTemp(filepath.Dir(out), "."+filepath.Base(out)+".staging-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(staging)
	st := &state{b: b, epoch: epoch, staging: staging, artifacts: map[string]string{}}
	for _, s := range steps {
		start := time.Now()
		if err := s.run(ctx, st); err != nil {
			return fmt.Errorf("step %s: %w", s.name, err)
		}
		b.Log.WithFields(logrus.Fields{"step": s.name, "took": time.Since(start).Round(time.Millisecond)}).Info("step done")
	}
	m, err := newManifest(b.Spec, epoch, st)
	if err != nil {
		return err
	}
	if err := publish(out, staging, m); err != nil {
		return err
	}
	b.Manifest = m
	b.Log.WithFields(logrus.Fields{"out": out, "artifacts": len(m.Artifacts)}).Info("build done")
	return nil
}

func (b *Build) outDir() string {
	if filepath.IsAbs(b.Spec.Output) {
		return b.Spec.Output
	}
	return filepath.Join(b.RepoDir, b.Spec.Output)
}

// sourceDateEpoch: the spec, else $SOURCE_DATE_EPOCH, else the last commit. Never the clock.
func (b *Build) sourceDateEpoch(ctx context.Context) (int64, error) {
	if b.Spec.SourceDateEpoch > 0 {
		return b.Spec.SourceDateEpoch, nil
	}
	if env := os.Getenv("SOURCE_DATE_EPOCH"); env != "" {
		n, err := strconv.ParseInt(env, 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("pipeline: SOURCE_DATE_EPOCH=%q is not a non-negative integer", env)
		}
		return n, nil
	}
	cmd := exec.CommandContext(ctx, "git", "log", "-1", "--format=%ct")
	cmd.Dir = b.RepoDir
	out, err := cmd.Output()
	if err != nil {
		return 0, ErrNoEpoch
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	if err != nil {
		return 0, ErrNoEpoch
	}
	return n, nil
}

func stepKernel(ctx context.Context, st *state) error {
	b := st.b
	kb := &kernel.Builder{
		FragmentDir: filepath.Join(b.RepoDir, b.Spec.Kernel.Fragments),
		CacheDir:    b.CacheDir,
		LogPath:     filepath.Join(b.outDir(), "logs", "kernel-build.log"),
		Log:         b.Log,
	}
	res, err := kb.Build(ctx)
	if err != nil {
		return err
	}
	st.kernel = res
	if failed := kspp.Failures(kspp.CheckCmdline(b.Spec.Kernel.Cmdline)); len(failed) > 0 {
		for _, f := range failed {
			b.Log.WithFields(logrus.Fields{"param": f.Name, "want": f.Value, "got": f.Got}).
				Warn("kernel.cmdline misses a KSPP parameter: machined will refuse to boot")
		}
	}
	if err := st.link("vmlinuz", "vmlinuz", res.Vmlinuz); err != nil {
		return err
	}
	if err := st.link("kernel-config", "kernel.config", res.ConfigPath); err != nil {
		return err
	}
	return st.writeKSPPReport(res.KSPP)
}

func (st *state) writeKSPPReport(results []kspp.Result) error {
	results = append(results, kspp.CheckCmdline(st.b.Spec.Kernel.Cmdline)...)
	for _, r := range kspp.Rules() {
		if r.Kind == kspp.Sysctl {
			results = append(results, kspp.Result{Rule: r, Got: "(checked at boot)", State: statusState(r.Status)})
		}
	}
	for _, f := range []struct {
		name, file string
		write      func(*os.File) error
	}{
		{"kspp-report", "kspp.json", func(f *os.File) error { return kspp.WriteJSON(f, results) }},
		{"kspp-report-text", "kspp.txt", func(f *os.File) error { return kspp.WriteText(f, results) }},
	} {
		path := filepath.Join(st.staging, f.file)
		fh, err := os.Create(path)
		if err != nil {
			return err
		}
		if err := f.write(fh); err != nil {
			fh.Close()
			return err
		}
		if err := fh.Close(); err != nil {
			return err
		}
		st.artifacts[f.name] = path
	}
	return nil
}

func statusState(s kspp.Status) string {
	switch s {
	case kspp.NotApplicable:
		return "n/a"
	case kspp.Exception:
		return "exception"
	}
	return "at boot"
}

// link copies a cached file into the staging directory under name and records it as an
// artifact. A copy, not a hard link: editing _out must never corrupt the cache.
func (st *state) link(artifact, name, src string) error {
	dst := filepath.Join(st.staging, name)
	if err := copyFile(dst, src); err != nil {
		return err
	}
	st.artifacts[artifact] = dst
	return nil
}

func copyFile(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s: %w", src, err)
	}
	return out.Close()
}

func (st *state) kernelSource() string {
	return fmt.Sprintf("%s %s", kernel.SourcePackage, kernel.SourcePackageVersion)
}

func (st *state) kernelSHA() string { return kernel.SourceSHA256 }
