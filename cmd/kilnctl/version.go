package main

import (
	"fmt"

	"github.com/kiln-os/kiln/api/machine"
	"github.com/kiln-os/kiln/internal/version"
)

func cmdVersion(e *env, args []string) error {
	if _, err := parseArgs(e.flagSet("version"), args, 0, 0); err != nil {
		return err
	}
	api, done, err := e.dial()
	if err != nil {
		return err
	}
	defer done()
	resp, err := api.Version(e.ctx, &machine.VersionRequest{})
	if err != nil {
		return err
	}
	if e.structured() {
		return e.printMessage(resp)
	}
	tw := e.table()
	fmt.Fprintf(tw, "CLIENT\t%s\n", version.Version)
	fmt.Fprintf(tw, "VERSION\t%s\n", resp.GetVersion())
	fmt.Fprintf(tw, "KERNEL\t%s\n", resp.GetKernelRelease())
	fmt.Fprintf(tw, "GO\t%s\n", resp.GetGoVersion())
	fmt.Fprintf(tw, "MAINTENANCE\t%t\n", resp.GetMaintenance())
	return tw.Flush()
}
