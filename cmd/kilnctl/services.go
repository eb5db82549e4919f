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

// cmdService runs "service start|stop|restart NAME".
func cmdService(e *env, args []string) error {
	fs := e.flagSet("service")
	pos, err := parseArgs(fs, args, 2, 2)
	if err != nil {
		return err
	}
	action, name := pos[0], pos[1]
	calls := map[string]func(machine.MachineServiceClient) error{
		"start": func(api machine.MachineServiceClient) error {
			_, err := api.ServiceStart(e.ctx, &machine.ServiceStartRequest{Name: name})
			return err
		},
		"stop": func(api machine.MachineServiceClient) error {
			_, err := api.ServiceStop(e.ctx, &machine.ServiceStopRequest{Name: name})
			return err
		},
		"restart": func(api machine.MachineServiceClient) error {
			_, err := api.ServiceRestart(e.ctx, &machine.ServiceRestartRequest{Name: name})
			return err
		},
	}
	do, ok := calls[action]
	if !ok {
		return fmt.Errorf("%w: service %q: the actions are start, stop and restart", errUsage, action)
	}
	api, done, err := e.dial()
	if err != nil {
		return err
	}
	defer done()
	if err := do(api); err != nil {
		return err
	}
	past := map[string]string{"start": "started", "stop": "stopped", "restart": "restarted"}[action]
	fmt.Fprintf(e.stdout, "service %s %s\n", name, past)
	return nil
}
