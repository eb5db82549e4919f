package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/kiln-os/kiln/api/machine"
	"github.com/kiln-os/kiln/config"
)

// applyModes maps --mode to the request's mode.
var applyModes = map[string]machine.ApplyConfigurationRequest_Mode{
	"auto":      machine.ApplyConfigurationRequest_AUTO,
	"no-reboot": machine.ApplyConfigurationRequest_NO_REBOOT,
	"reboot":    machine.ApplyConfigurationRequest_REBOOT,
}

func cmdApplyConfig(e *env, args []string) error {
	fs := e.flagSet("apply-config")
	file := fs.String("f", "", `machine config file ("-" reads stdin)`)
	fs.StringVar(file, "file", "", "machine config file")
	dryRun := fs.Bool("dry-run", false, "validate and show the diff; change nothing")
	mode := fs.String("mode", "auto", "auto, no-reboot or reboot")
	if _, err := parseArgs(fs, args, 0, 0); err != nil {
		return err
	}
	reqMode, ok := applyModes[*mode]
	if !ok {
		return fmt.Errorf("%w: --mode %q: want auto, no-reboot or reboot", errUsage, *mode)
	}
	if *file == "" {
		return fmt.Errorf("%w: apply-config needs -f FILE", errUsage)
	}
	data, err := e.readInput(*file)
	if err != nil {
		return err
	}
	if err := config.CheckSize(len(data)); err != nil { // the node would refuse it
		return fmt.Errorf("%s: %w", *file, err)
	}
	api, done, err := e.dial()
	if err != nil {
		return err
	}
	defer done()
	if err := e.checkPinned(data, *file == "-"); err != nil {
		return err
	}
	resp, err := api.ApplyConfiguration(e.ctx, &machine.ApplyConfigurationRequest{Data: data, DryRun: *dryRun, Mode: reqMode})
	if err != nil {
		return err
	}
	if e.structured() {
		return e.printMessage(resp)
	}
	e.printApplied(resp)
	return nil
}

func (e *env) readInput(name string) ([]byte, error) {
	if name == "-" {
		return io.ReadAll(e.stdin)
	}
	return os.ReadFile(name)
}

func (e *env) printApplied(resp *machine.ApplyConfigurationResponse) {
	for _, w := range resp.GetWarnings() {
		fmt.Fprintf(e.stderr, "warning: %s\n", w)
	}
	diff := resp.GetDiff()
	if diff == "" {
		diff = "no changes\n"
	}
	if !strings.HasSuffix(diff, "\n") {
		diff += "\n"
	}
	fmt.Fprint(e.stdout, diff)
	fmt.Fprintf(e.stdout, "applied: %s\n", resp.GetModeApplied())
}
