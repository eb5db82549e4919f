package main

import (
	"flag"
	"fmt"

	"github.com/kiln-os/kiln/api/machine"
)

func cmdReboot(e *env, args []string) error {
	return e.power(e.flagSet("reboot"), args, func(api machine.MachineServiceClient) error {
		_, err := api.Reboot(e.ctx, &machine.RebootRequest{})
		return err
	})
}

func cmdShutdown(e *env, args []string) error {
	return e.power(e.flagSet("shutdown"), args, func(api machine.MachineServiceClient) error {
		_, err := api.Shutdown(e.ctx, &machine.ShutdownRequest{})
		return err
	})
}

// power dials, calls, and says what the node was asked to do.
func (e *env) power(fs *flag.FlagSet, args []string, call func(machine.MachineServiceClient) error) error {
	if _, err := parseArgs(fs, args, 0, 0); err != nil {
		return err
	}
	api, done, err := e.dial()
	if err != nil {
		return err
	}
	defer done()
	if err := call(api); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s requested\n", fs.Name())
	return nil
}

func cmdReset(e *env, args []string) error {
	fs := e.flagSet("reset")
	var req machine.ResetRequest
	fs.BoolVar(&req.WipeState, "wipe-state", false, "wipe STATE (machine config, node PKI)")
	fs.BoolVar(&req.WipeEphemeral, "wipe-ephemeral", false, "wipe EPHEMERAL (/var)")
	fs.BoolVar(&req.Reboot, "reboot", false, "reboot after the wipe instead of powering off")
	return e.power(fs, args, func(api machine.MachineServiceClient) error {
		_, err := api.Reset(e.ctx, &req)
		return err
	})
}
