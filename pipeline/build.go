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

	"github.com/kiln-os/kiln/rootfs"
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
	// Summary, when set, gets one line per step at the end of Run (failed or not): how
	// long it took and whether it came from the cache.
	Summary io.Writer

	// Steps are the steps Run went through, in order.
	Steps []StepTime

	// Manifest is what Run wrote to OutDir/manifest.json.
	Manifest *Manifest
}

// ErrNoEpoch is returned when no SOURCE_DATE_EPOCH can be found: the build never falls back
// to the clock.
var ErrNoEpoch = errors.New("pipeline: no SOURCE_DATE_EPOCH: set sourceDateEpoch in the spec, export SOURCE_DATE_EPOCH, or build from a git checkout with at least one commit")

// Run builds every artifact into a staging directory beside the output directory, then
// moves them into place and writes the manifest last. A failed build leaves the output
// directory as it was (apart from the kernel build log under logs/).
func (b *Build) Run(ctx context.Context) error {
	b.defaults()
	epoch, err := b.sourceDateEpoch(ctx)
	if err != nil {
		return err
	}
	out := b.outDir()
	staging, err := newStaging(out)
	if err != nil {
		return err
	}
	defer os.RemoveAll(staging)
	started := time.Now()
	defer func() { b.writeSummary(time.Since(started)) }()
	m, err := b.runSteps(ctx, epoch, staging)
	if err != nil {
		return err
	}
	if _, err := runPart(ctx, b, "publish", func() (struct{}, error) { return struct{}{}, publish(out, staging, m) }); err != nil {
		return err
	}
	b.Manifest = m
	b.Log.WithFields(logrus.Fields{"out": out, "artifacts": len(m.Artifacts)}).Info("build done")
	return nil
}

// stepEnv is where a step caches and logs. It is never part of a cache key: a key comes
// from the step's other inputs alone.
type stepEnv struct {
	CacheDir string
	Log      logrus.FieldLogger
}

// runSteps is the pipeline, wired in one place: each step takes what earlier steps made and
// returns what it made, and the manifest is assembled from those outputs. Keys come first:
// a build without them must fail before a ten-minute kernel build, not after. It is one
// long straight list on purpose: it is the one place where the data flow can be read.
func (b *Build) runSteps(ctx context.Context, epoch int64, staging string) (*Manifest, error) {
	spec, log, env := b.Spec, b.Log, stepEnv{CacheDir: b.CacheDir, Log: b.Log}
	keySet, err := runStep(ctx, b, "keys", stepKeys, keysIn{
		Dir: b.keysDir(), Generate: b.GenerateKeys, Owner: "Kiln " + spec.Name, Epoch: epoch, Log: log,
	})
	if err != nil {
		return nil, err
	}
	kern, err := runStep(ctx, b, "kernel", stepKernel, kernelIn{
		FragmentDir: filepath.Join(b.RepoDir, spec.Kernel.Fragments),
		LogPath:     filepath.Join(b.outDir(), "logs", "kernel-build.log"),
		stepEnv:     env,
	})
	if err != nil {
		return nil, err
	}
	report, err := runStep(ctx, b, "kspp-report", stepKSPPReport, ksppReportIn{
		Config: kern.KSPP, Cmdline: spec.Kernel.Cmdline, Dir: staging, Log: log,
	})
	if err != nil {
		return nil, err
	}
	bins, err := runStep(ctx, b, "binaries", stepBinaries, binariesIn{
		RepoDir: b.RepoDir, Name: spec.Name, Version: spec.Version, stepEnv: env,
	})
	if err != nil {
		return nil, err
	}
	runtime, err := runStep(ctx, b, "runtime", stepRuntime, runtimeIn{
		ModuleDir: filepath.Join(b.RepoDir, RuntimeModuleDir), stepEnv: env,
	})
	if err != nil {
		return nil, err
	}
	kube, err := b.kubernetes(ctx, env)
	if err != nil {
		return nil, err
	}
	boot, err := runStep(ctx, b, "bootloader", stepBootloader, bootloaderIn{DB: keySet.DB, stepEnv: env})
	if err != nil {
		return nil, err
	}
	payload, err := runPart(ctx, b, "esp-payload", func() ([]rootfs.File, error) {
		return espPayload(boot.SystemdBoot, keySet, epoch)
	})
	if err != nil {
		return nil, err
	}
	root, err := runStep(ctx, b, "rootfs", stepRootfs, rootfsIn{
		Name: spec.Name, Version: spec.Version, CABundle: rootfs.DefaultCABundle,
		ESPPayload: payload, Runtime: runtime.Files(), KubernetesPin: kube.pin(), Compression: spec.Rootfs.Compression, Epoch: epoch, stepEnv: env,
	})
	if err != nil {
		return nil, err
	}
	initrd, err := runStep(ctx, b, "initramfs", stepInitramfs, initramfsIn{
		Machined: bins.Machined, Rootfs: root.Squashfs, Epoch: epoch, stepEnv: env,
	})
	if err != nil {
		return nil, err
	}
	uki, err := runStep(ctx, b, "uki", stepUKI, ukiIn{
		Vmlinuz: kern.Vmlinuz, Initramfs: initrd.Initramfs, KernelRelease: kern.Release,
		Name: spec.Name, Version: spec.Version, Cmdline: spec.Kernel.Cmdline,
		DB: keySet.DB, PCR: keySet.PCR, Epoch: epoch, stepEnv: env,
	})
	if err != nil {
		return nil, err
	}
	sizes, err := runStep(ctx, b, "uki-sizes", stepUKISizes, ukiSizesIn{
		UKI: uki.Path, Vmlinuz: kern.Vmlinuz, Initramfs: initrd.Initramfs, Squashfs: root.Squashfs, Stored: root.Stored,
		MaxBytes: spec.UKI.MaxBytes, Dir: staging,
	})
	if err != nil {
		return nil, err
	}
	media := mediaIn{
		Name: spec.Name, Version: spec.Version, Epoch: epoch,
		SystemdBoot: boot.SystemdBoot, UKI: uki.Path, Keys: keySet, Dir: staging,
	}
	if kube != nil {
		media.KubePayload, media.KubePayloadName = kube.Path, kube.Pin.File
	}
	disk, err := runStep(ctx, b, "disk", stepDisk, media)
	if err != nil {
		return nil, err
	}
	iso, err := runStep(ctx, b, "iso", stepISO, media)
	if err != nil {
		return nil, err
	}
	// Staging hashes every artifact for the manifest.
	artifacts, err := runPart(ctx, b, "stage+hash", func() (map[string]Artifact, error) {
		return stageArtifacts(staging, append(kube.artifacts(), []artifact{
			{"vmlinuz", "vmlinuz", kern.Vmlinuz},
			{"kernel-config", "kernel.config", kern.ConfigPath},
			{"kspp-report", "kspp.json", report.JSON},
			{"kspp-report-text", "kspp.txt", report.Text},
			{"uki-sizes", "uki-sizes.json", sizes.Path},
			{"machined", "machined", bins.Machined},
			{"containerd", "containerd", runtime.Containerd},
			{"runc", "runc", runtime.Runc},
			{"rootfs", "rootfs.sqsh", root.Squashfs},
			{"initramfs", "initramfs.cpio.zst", initrd.Initramfs},
			{"uki", ukiName(spec.Version), uki.Path},
			{"bootloader", "systemd-bootx64.efi", boot.SystemdBoot},
			{"disk", "disk.raw", disk.Path},
			{"iso", "kiln.iso", iso.Path},
		}...))
	})
	if err != nil {
		return nil, err
	}
	return newManifest(manifestIn{Spec: spec, Epoch: epoch, Kernel: kern.Result, UKI: uki, Runtime: runtime.Versions, Kubernetes: kube.versions(), Artifacts: artifacts}), nil
}

// kubernetes builds the Kubernetes programs and packs them into the payload, when the
// spec asks for it; nil otherwise.
func (b *Build) kubernetes(ctx context.Context, env stepEnv) (*kubePayloadOut, error) {
	if !b.Spec.Kubernetes.Payload {
		return nil, nil
	}
	programs, err := runStep(ctx, b, "kubernetes", stepKubernetes, kubernetesIn{
		ModuleDir: filepath.Join(b.RepoDir, KubernetesModuleDir), RuntimeModuleDir: filepath.Join(b.RepoDir, RuntimeModuleDir), stepEnv: env,
	})
	if err != nil {
		return nil, err
	}
	payload, err := runStep(ctx, b, "kube-payload", stepKubePayload, kubePayloadIn{
		Programs: programs, ModuleDir: filepath.Join(b.RepoDir, KubernetesModuleDir), stepEnv: env,
	})
	if err != nil {
		return nil, err
	}
	return &payload, nil
}

func (b *Build) defaults() {
	if b.RepoDir == "" {
		b.RepoDir = "."
	}
	if b.Log == nil {
		b.Log = logrus.StandardLogger()
	}
}

// newStaging makes the staging directory beside out, so that publishing is a rename.
func newStaging(out string) (string, error) {
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return "", err
	}
	return os.MkdirTemp(filepath.Dir(out), "."+filepath.Base(out)+".staging-")
}

// runStep runs one named step, names it in its error, logs how long it took and records
// it for the summary.
func runStep[In, Out any](ctx context.Context, b *Build, name string, step func(context.Context, In) (Out, error), in In) (Out, error) {
	start := time.Now()
	out, err := step(ctx, in)
	took := time.Since(start)
	row := StepTime{Name: name, Took: took, Failed: err != nil}
	if c, ok := any(out).(cacheReporter); ok && err == nil {
		row.Cache = c.cacheWord()
	}
	b.Steps = append(b.Steps, row)
	if err != nil {
		return out, fmt.Errorf("step %s: %w", name, err)
	}
	b.Log.WithFields(logrus.Fields{"step": name, "took": took.Round(time.Millisecond)}).Info("step done")
	return out, nil
}

// runPart runs a part of the build that has no input of its own (the ESP payload,
// staging, publishing) as a step: timed, named in its error, in the summary.
func runPart[Out any](ctx context.Context, b *Build, name string, part func() (Out, error)) (Out, error) {
	return runStep(ctx, b, name, func(context.Context, struct{}) (Out, error) { return part() }, struct{}{})
}

// StepTime is one step of a build: how long it took and where its output came from.
type StepTime struct {
	Name   string
	Took   time.Duration
	Cache  string // "hit" or "miss"; "" for a step that has no cache entry of its own
	Failed bool
}

// cacheReporter is a step output that says whether it came from the cache.
type cacheReporter interface{ cacheWord() string }

// cached is embedded in the output of each step that has a cache entry.
type cached struct{ hit bool }

func (c cached) cacheWord() string {
	if c.hit {
		return "hit"
	}
	return "miss"
}

// writeSummary writes the step table to Summary: one line per step, then the total.
func (b *Build) writeSummary(total time.Duration) {
	if b.Summary == nil || len(b.Steps) == 0 {
		return
	}
	fmt.Fprintf(b.Summary, "%-12s %9s  %s\n", "step", "took", "cache")
	for _, s := range b.Steps {
		state := s.Cache
		switch {
		case s.Failed:
			state = "failed"
		case state == "":
			state = "-"
		}
		fmt.Fprintf(b.Summary, "%-12s %9s  %s\n", s.Name, s.Took.Round(time.Millisecond), state)
	}
	fmt.Fprintf(b.Summary, "%-12s %9s\n", "total", total.Round(time.Millisecond))
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
