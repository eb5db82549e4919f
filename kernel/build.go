package kernel

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kiln-os/kiln/internal/atomicfile"
	"github.com/kiln-os/kiln/internal/digest"
	"github.com/kiln-os/kiln/kernel/kspp"
)

// Builder builds the kernel. Zero values of the optional fields take the defaults named.
type Builder struct {
	// FragmentDir holds the *.config fragments (default kernel/config).
	FragmentDir string
	// ResolvedPath is the checked-in resolved config (default FragmentDir/resolved-x86_64.config).
	ResolvedPath string
	// CacheDir is $KILN_CACHE; the kernel lives under CacheDir/kernel.
	CacheDir string
	// LogPath receives the full make output of a build (default: no log file, output dropped).
	LogPath string
	// Tarball and TarballSHA256 default to the pin in source.go.
	Tarball, TarballSHA256 string
	// Jobs is make's -j (default: number of CPUs + 1).
	Jobs int
	// RefreshResolved writes the resolved config to ResolvedPath instead of failing on drift.
	RefreshResolved bool
	Log             logrus.FieldLogger

	toolchain toolchain
}

// Result is what a build produced; every path is inside the cache and must be copied, not moved.
type Result struct {
	Vmlinuz    string
	ConfigPath string
	// Release is the kernel release string (uname -r), e.g. 6.1.192-kiln.
	Release string
	// Key is the SHA-256 of every input of the build.
	Key      string
	CacheHit bool
	KSPP     []kspp.Result
}

// ErrDrift is returned when the resolved configuration differs from the checked-in one.
var ErrDrift = errors.New("kernel: resolved config drifted from the checked-in file")

func (b *Builder) defaults() {
	if b.FragmentDir == "" {
		b.FragmentDir = filepath.Join("kernel", "config")
	}
	if b.ResolvedPath == "" {
		b.ResolvedPath = filepath.Join(b.FragmentDir, "resolved-x86_64.config")
	}
	if b.Tarball == "" {
		b.Tarball, b.TarballSHA256 = SourceTarball, SourceSHA256
	}
	if b.Jobs == 0 {
		// One job more than CPUs keeps both busy while the other waits on I/O.
		b.Jobs = numCPU() + 1
	}
	if b.Log == nil {
		b.Log = logrus.StandardLogger()
	}
}

// Build runs the steps: verify the source, merge the fragments, resolve the config (cached),
// verify and drift-check it, check KSPP rules, then build bzImage (cached).
func (b *Builder) Build(ctx context.Context) (*Result, error) {
	resolved, resolvedBytes, err := b.Configure(ctx)
	if err != nil {
		return nil, err
	}
	report := kspp.CheckConfig(resolved)
	if failed := kspp.Failures(report); len(failed) > 0 {
		return nil, ksppError(failed)
	}
	res, err := b.compile(ctx, b.toolchain, resolvedBytes)
	if err != nil {
		return nil, err
	}
	res.KSPP = report
	return res, nil
}

// Configure merges the fragments and resolves them with Kconfig, verifies that every
// requested symbol survived and that the result matches the checked-in resolved config.
// It returns the resolved config parsed and as the bytes Kconfig wrote.
func (b *Builder) Configure(ctx context.Context) (Config, []byte, error) {
	b.defaults()
	if b.CacheDir == "" {
		return nil, nil, errors.New("kernel: no cache directory (set KILN_CACHE)")
	}
	if err := verifySource(b.Tarball, b.CacheDir, b.TarballSHA256); err != nil {
		return nil, nil, err
	}
	tc, err := probeToolchain(ctx)
	if err != nil {
		return nil, nil, err
	}
	b.toolchain = tc
	frags, err := ReadFragments(b.FragmentDir)
	if err != nil {
		return nil, nil, err
	}
	merged := Merge(frags)
	raw, hit, err := b.resolve(ctx, tc, merged)
	if err != nil {
		return nil, nil, err
	}
	b.Log.WithField("cache", hitWord(hit)).Info("kernel: config resolved")
	resolved, err := ParseConfig("resolved .config", bytes.NewReader(raw))
	if err != nil {
		return nil, nil, err
	}
	if m := Verify(merged, resolved); len(m) > 0 {
		return nil, nil, &MismatchError{Mismatches: m}
	}
	if err := b.checkDrift(resolved, raw); err != nil {
		return nil, nil, err
	}
	return resolved, raw, nil
}

func (b *Builder) checkDrift(resolved Config, raw []byte) error {
	if b.RefreshResolved {
		b.Log.WithField("path", b.ResolvedPath).Info("kernel: resolved config written")
		return atomicfile.Write(b.ResolvedPath, raw, 0o644)
	}
	checkedIn, err := ReadConfig(b.ResolvedPath)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w: %s does not exist; run `make kernel-config` and commit it", ErrDrift, b.ResolvedPath)
	}
	if err != nil {
		return err
	}
	if d := Diff(checkedIn, resolved); d != "" {
		return fmt.Errorf("%w: %s (- checked in, + resolved now); review and run `make kernel-config` to accept:\n%s", ErrDrift, b.ResolvedPath, d)
	}
	return nil
}

// resolve runs allnoconfig with the merged fragments, then olddefconfig, in a scratch
// output directory. The result is cached by the hash of the source, fragments and toolchain.
func (b *Builder) resolve(ctx context.Context, tc toolchain, merged Config) ([]byte, bool, error) {
	key := digest.Key("config-v1", b.TarballSHA256, string(merged.Bytes()), tc.id)
	cached := filepath.Join(b.CacheDir, "kernel", "config", key+".config")
	if raw, err := os.ReadFile(cached); err == nil {
		return raw, true, nil
	}
	work, err := os.MkdirTemp(filepath.Join(b.CacheDir, "kernel"), "configure-")
	if err != nil {
		return nil, false, err
	}
	defer os.RemoveAll(work)
	src, err := extract(ctx, b.Tarball, work)
	if err != nil {
		return nil, false, err
	}
	fragment := filepath.Join(work, "merged.config")
	if err := os.WriteFile(fragment, merged.Bytes(), 0o644); err != nil {
		return nil, false, err
	}
	out := filepath.Join(work, "out")
	for _, target := range []string{"allnoconfig", "olddefconfig"} {
		if _, err := runMake(ctx, src, nil, "O="+out, "KCONFIG_ALLCONFIG="+fragment, target); err != nil {
			return nil, false, err
		}
	}
	raw, err := os.ReadFile(filepath.Join(out, ".config"))
	if err != nil {
		return nil, false, err
	}
	return raw, false, atomicfile.Write(cached, raw, 0o644)
}

// buildEnv is the whole environment of the kernel build: nothing of the caller's leaks in.
func buildEnv() []string {
	ts := time.Unix(SourceEpoch, 0).UTC().Format("Mon Jan 2 15:04:05 UTC 2006")
	return []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=/nonexistent", "LC_ALL=C", "TZ=UTC",
		"KBUILD_BUILD_TIMESTAMP=" + ts,
		"KBUILD_BUILD_USER=kiln", "KBUILD_BUILD_HOST=kiln", "KBUILD_BUILD_VERSION=1",
		fmt.Sprintf("SOURCE_DATE_EPOCH=%d", SourceEpoch),
	}
}

func (b *Builder) compile(ctx context.Context, tc toolchain, resolved []byte) (*Result, error) {
	key := digest.Key("build-v1", b.TarballSHA256, string(resolved), tc.id, strings.Join(buildEnv(), "\n"), "bzImage")
	dir := filepath.Join(b.CacheDir, "kernel", "build", key)
	if res, err := loadResult(dir, key); err == nil {
		b.Log.WithFields(logrus.Fields{"cache": "hit", "key": key[:12], "release": res.Release}).Info("kernel: bzImage")
		return res, nil
	}
	start := time.Now()
	if err := b.compileInto(ctx, dir, resolved); err != nil {
		return nil, err
	}
	res, err := loadResult(dir, key)
	if err != nil {
		return nil, err
	}
	res.CacheHit = false
	b.Log.WithFields(logrus.Fields{"cache": "miss", "key": key[:12], "release": res.Release,
		"took": time.Since(start).Round(time.Second)}).Info("kernel: bzImage")
	return res, nil
}

// compileInto builds in a fresh, in-tree extraction (so every path the compiler sees is
// relative and the output does not depend on where the cache lives), then renames the
// finished outputs into dir.
func (b *Builder) compileInto(ctx context.Context, dir string, resolved []byte) error {
	work, err := os.MkdirTemp(filepath.Join(b.CacheDir, "kernel"), "build-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	b.Log.Info("kernel: extracting source")
	src, err := extract(ctx, b.Tarball, work)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(src, ".config"), resolved, 0o644); err != nil {
		return err
	}
	args := []string{fmt.Sprintf("-j%d", b.Jobs), "bzImage"}
	b.Log.WithField("make", strings.Join(args, " ")).Info("kernel: building (several minutes on 2 cores)")
	if err := b.makeWithProgress(ctx, src, args); err != nil {
		return err
	}
	return stageOutputs(src, work, dir, resolved)
}

func stageOutputs(src, work, dir string, resolved []byte) error {
	release, err := os.ReadFile(filepath.Join(src, "include", "config", "kernel.release"))
	if err != nil {
		return fmt.Errorf("kernel: read kernel.release: %w", err)
	}
	staged := filepath.Join(work, "result")
	if err := os.MkdirAll(staged, 0o755); err != nil {
		return err
	}
	if err := atomicfile.Copy(filepath.Join(staged, "vmlinuz"), filepath.Join(src, "arch", "x86", "boot", "bzImage"), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(staged, "config"), resolved, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(staged, "release"), bytes.TrimSpace(release), 0o644); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	os.RemoveAll(dir) // a half-written entry from an interrupted run
	return os.Rename(staged, dir)
}

func loadResult(dir, key string) (*Result, error) {
	release, err := os.ReadFile(filepath.Join(dir, "release"))
	if err != nil {
		return nil, err
	}
	res := &Result{
		Vmlinuz:    filepath.Join(dir, "vmlinuz"),
		ConfigPath: filepath.Join(dir, "config"),
		Release:    string(release),
		Key:        key,
		CacheHit:   true,
	}
	if _, err := os.Stat(res.Vmlinuz); err != nil {
		return nil, err
	}
	return res, nil
}

func hitWord(hit bool) string {
	if hit {
		return "hit"
	}
	return "miss"
}

func ksppError(failed []kspp.Result) error {
	var b strings.Builder
	fmt.Fprintf(&b, "kernel: %d KSPP rule(s) fail on the resolved config:", len(failed))
	for _, r := range failed {
		fmt.Fprintf(&b, "\n  %s: want %s, got %s (%s)", r.Name, r.Value, r.Got, r.Reason)
	}
	return errors.New(b.String())
}
