package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kiln-os/kiln/bootloader/keys"
	"github.com/kiln-os/kiln/kernel"
	"github.com/kiln-os/kiln/kernel/kspp"
	"github.com/kiln-os/kiln/pipeline"
)

func cmdBuild(ctx context.Context, args []string, log *logrus.Logger) error {
	fs := newFlagSet("build")
	specPath := fs.String("f", "kiln.yaml", "image spec")
	generate := fs.Bool("generate-keys", false, "create a new key set in _keys/ when there is none")
	keysDir := fs.String("keys", "", "directory of the signing keys (default _keys next to the spec)")
	version := fs.String("version", "", "override the spec's version (e.g. a release build)")
	output := fs.String("output", "", "override the spec's output directory")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	b, err := newBuild(*specPath, log)
	if err != nil {
		return err
	}
	if *version != "" {
		b.Spec.Version = *version
	}
	if *output != "" {
		b.Spec.Output = *output
	}
	if err := b.Spec.Validate(); err != nil {
		return err
	}
	b.GenerateKeys, b.KeysDir = *generate, *keysDir
	b.Summary = log.Out // one line per step at the end, beside the log
	return b.Run(ctx)
}

func newBuild(specPath string, log *logrus.Logger) (*pipeline.Build, error) {
	spec, err := pipeline.LoadSpec(specPath)
	if err != nil {
		return nil, err
	}
	cache, err := cacheDir()
	if err != nil {
		return nil, err
	}
	return &pipeline.Build{Spec: spec, RepoDir: filepath.Dir(specPath), CacheDir: cache, Log: log}, nil
}

func cmdKernel(ctx context.Context, args []string, stdout io.Writer, log *logrus.Logger) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: kernel needs build, check or config", errUsage)
	}
	switch args[0] {
	case "check":
		return kernelCheck(args[1:], stdout)
	case "build", "config":
		return kernelBuild(ctx, args[0], args[1:], stdout, log)
	}
	return fmt.Errorf("%w: unknown kernel command %q", errUsage, args[0])
}

// cmdKeys creates the signing keys: PK, KEK, db (X.509) and the PCR key, mode 0600.
func cmdKeys(args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "generate" {
		return fmt.Errorf("%w: keys needs generate", errUsage)
	}
	fs := newFlagSet("keys generate")
	dir := fs.String("dir", "_keys", "directory for the keys (created 0700; never inside _out or the cache)")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if err := keys.Generate(*dir, "Kiln", rand.Reader, time.Now()); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "keys written to %s: %v\n", *dir, keys.Files())
	return nil
}

// kernelCheck prints every KSPP rule against a .config (default: the checked-in resolved
// config) and fails when a required rule fails.
func kernelCheck(args []string, stdout io.Writer) error {
	fs := newFlagSet("kernel check")
	path := fs.String("config", filepath.Join("kernel", "config", "resolved-x86_64.config"), "kernel .config to check")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := kernel.ReadConfig(*path)
	if err != nil {
		return err
	}
	results := kspp.CheckConfig(cfg)
	if err := kspp.WriteText(stdout, results); err != nil {
		return err
	}
	if failed := kspp.Failures(results); len(failed) > 0 {
		names := make([]string, len(failed))
		for i, f := range failed {
			names[i] = f.Name
		}
		return fmt.Errorf("%s: %d KSPP rule(s) fail: %v", *path, len(failed), names)
	}
	return nil
}

// kernelBuild builds the kernel alone (make kernel) or refreshes the resolved config
// (make kernel-config).
func kernelBuild(ctx context.Context, mode string, args []string, stdout io.Writer, log *logrus.Logger) error {
	fs := newFlagSet("kernel " + mode)
	specPath := fs.String("f", "kiln.yaml", "image spec")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	b, err := newBuild(*specPath, log)
	if err != nil {
		return err
	}
	kb := &kernel.Builder{
		FragmentDir: filepath.Join(b.RepoDir, b.Spec.Kernel.Fragments),
		CacheDir:    b.CacheDir,
		LogPath:     filepath.Join(b.RepoDir, b.Spec.Output, "logs", "kernel-build.log"),
		Log:         log,
	}
	if mode == "config" {
		kb.RefreshResolved = true
		_, _, err := kb.Configure(ctx)
		return err
	}
	res, err := kb.Build(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "vmlinuz %s\nrelease %s\nkey     %s\n", res.Vmlinuz, res.Release, res.Key)
	return nil
}
