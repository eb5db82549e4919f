package main

import (
	"fmt"
	"time"

	"github.com/kiln-os/kiln/api/machine"
)

func cmdServices(e *env, args []string) error {
	if _, err := parseArgs(e.flagSet("services"), args, 0, 0); err != nil {
		return err
	}
	api, done, err := e.dial()
	if err != nil {
		return err
	}
	defer done()
	resp, err := api.ServiceList(e.ctx, &machine.ServiceListRequest{})
	if err != nil {
		return err
	}
	if e.structured() {
		return e.printMessage(resp)
	}
	tw := e.table()
	fmt.Fprintln(tw, "NAME\tSTATE\tHEALTH\tRESTARTS\tPID\tSINCE")
	for _, s := range resp.GetServices() {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", s.GetName(), s.GetState(), s.GetHealth(),
			s.GetRestarts(), pidText(s.GetPid()), sinceText(s))
	}
	return tw.Flush()
}

func pidText(pid int32) string {
	if pid == 0 {
		return "-"
	}
	return fmt.Sprint(pid)
}

func sinceText(s *machine.ServiceInfo) string {
	if s.GetSince() == nil {
		return "-"
	}
	return s.GetSince().AsTime().UTC().Format(time.RFC3339)
}

// cmdService runs "service restart NAME".
func cmdService(e *env, args []string) error {
	fs := e.flagSet("service restart")
	pos, err := parseArgs(fs, args, 2, 2)
	if err != nil {
		return err
	}
	if pos[0] != "restart" {
		return fmt.Errorf("%w: service %q: the only service action is restart", errUsage, pos[0])
	}
	api, done, err := e.dial()
	if err != nil {
		return err
	}
	defer done()
	if _, err := api.ServiceRestart(e.ctx, &machine.ServiceRestartRequest{Name: pos[1]}); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "service %s restarted\n", pos[1])
	return nil
}
