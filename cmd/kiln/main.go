// Command kiln builds Kiln images: `kiln build`, `kiln kernel build|check|config`, `kiln run`,
// reports on them: `kiln size`, and network-boots them in a lab: `kiln pxe serve`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/sirupsen/logrus"
)

const usage = `usage: kiln <command> [flags]

commands:
  build   [-f kiln.yaml] [--generate-keys] [--keys DIR]
                                    build the image into the spec's output directory (_out)
  keys    generate [--dir _keys]    create the Secure Boot keys (PK, KEK, db) and the PCR key
  kernel  build [-f kiln.yaml]      build (or fetch from the cache) the kernel only
  kernel  check [--config FILE]     check a kernel .config against the KSPP rules
  kernel  config [-f kiln.yaml]     resolve the fragments and rewrite the checked-in resolved config
  run     [--out _out] [--fresh] [--direct [--cmdline S]] [--timeout D]
                                    boot the built image in QEMU (UEFI, Secure Boot), serial on stdout
  pxe     serve --interface IF (--range FROM-TO | --proxy) [--out _out] [--db FILE]
          [--allow-mac M,...] [--http-port 80] [--tftp-port 69]
                                    lab boot server: DHCP for x64 UEFI network boot clients
                                    (--range: a full server; non-booting clients get an address
                                    only), TFTP and HTTP serving the signed UKI as kiln.efi
  size    [--top N] BINARY          what a Go binary (built without -s -w) is made of, per module and package

environment:
  KILN_CACHE          cache directory (default ~/.cache/kiln)
  SOURCE_DATE_EPOCH   timestamp for every file written, when the spec sets none
`

// errUsage marks a usage error: exit code 2.
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil:
	case errors.Is(err, errUsage):
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	default:
		fmt.Fprintf(os.Stderr, "kiln: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errUsage
	}
	log := newLogger(stderr)
	switch args[0] {
	case "build":
		return cmdBuild(ctx, args[1:], log)
	case "kernel":
		return cmdKernel(ctx, args[1:], stdout, log)
	case "run":
		return cmdRun(ctx, args[1:], stdout, log)
	case "keys":
		return cmdKeys(args[1:], stdout)
	case "size":
		return cmdSize(args[1:], stdout)
	case "pxe":
		return cmdPXE(ctx, args[1:], stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	return fmt.Errorf("%w: unknown command %q", errUsage, args[0])
}

func newLogger(w io.Writer) *logrus.Logger {
	log := logrus.New()
	log.SetOutput(w)
	log.SetFormatter(&logrus.TextFormatter{FullTimestamp: false, DisableTimestamp: true})
	return log
}

// cacheDir is $KILN_CACHE, default ~/.cache/kiln.
func cacheDir() (string, error) {
	if d := os.Getenv("KILN_CACHE"); d != "" {
		return filepath.Abs(d)
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no KILN_CACHE and no home directory: %w", err)
	}
	return filepath.Join(home, ".cache", "kiln"), nil
}

func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %s: %w", errUsage, fs.Name(), err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: %s: unexpected argument %q", errUsage, fs.Name(), fs.Arg(0))
	}
	return nil
}
