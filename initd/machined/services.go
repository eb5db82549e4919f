package machined

import (
	"context"
	"fmt"
	"os"

	"github.com/sirupsen/logrus"

	"github.com/kiln-os/kiln/initd/events"
	"github.com/kiln-os/kiln/initd/resources"
	"github.com/kiln-os/kiln/initd/supervisor"
	"github.com/kiln-os/kiln/initd/watchdog"
)

// Self is the path of the machined binary in the root filesystem; services that are
// modes of the multi-call binary run it with their name as the first argument.
const Self = "/sbin/init"

// services returns the services of this machine. Only services whose hardware exists are
// returned: a machine without a watchdog runs no watchdogd.
func (m *Machined) services(ctx context.Context, log logrus.FieldLogger) ([]supervisor.Service, error) {
	out, err := m.apiServices(ctx, log)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(watchdog.DefaultDevice); err == nil {
		svc, err := supervisor.NewProcess(supervisor.ProcessSpec{
			Name:   "watchdogd",
			Argv:   []string{Self, "watchdogd"},
			Env:    []string{"PATH=/sbin:/usr/sbin:/bin:/usr/bin"},
			Output: m.Console,
			Reaper: m.Reaper,
			Health: func(context.Context) error { return watchdog.Healthy(watchdog.ArmedFile) },
		})
		if err != nil {
			return nil, err
		}
		out = append(out, svc)
	} else {
		m.emit(events.Event{Type: events.TypeInfo, Name: "watchdogd", State: "absent",
			Fields: map[string]string{"reason": "no " + watchdog.DefaultDevice}})
	}
	return out, nil
}

// startServices starts the supervisor and waits until every service is healthy.
func (m *Machined) startServices(ctx context.Context, log logrus.FieldLogger) error {
	services, err := m.services(ctx, log)
	if err != nil {
		return err
	}
	sup, err := supervisor.New(supervisor.Config{Log: log, Emit: m.serviceEvent}, services...)
	if err != nil {
		return err
	}
	m.releaseWatchdog(true) // watchdogd feeds it from here on
	if err := sup.Start(); err != nil {
		return err
	}
	m.supervisor.Store(sup)
	go m.publishServices(sup)
	if err := sup.WaitHealthy(ctx); err != nil {
		return fmt.Errorf("services not healthy: %w", err)
	}
	log.WithField("services", len(services)).Info("services healthy")
	return nil
}

// serviceEvent passes a supervisor event on and asks publishServices to republish the
// services as resources. It must not call back into the supervisor: the supervisor calls
// Emit under its emit lock, and Snapshot would wait for a state lock that another
// transition holds while it waits for the emit lock.
func (m *Machined) serviceEvent(e events.Event) {
	m.Sink.Emit(e)
	select {
	case m.servicesChanged <- struct{}{}:
	default: // a republish is already pending
	}
}

// publishServices keeps the runtime/Service resources in step with the supervisor.
func (m *Machined) publishServices(sup *supervisor.Supervisor) {
	for range m.servicesChanged {
		for _, st := range sup.Snapshot() {
			m.setResource(resources.NamespaceRuntime, resources.TypeService, st.Name, &resources.ServiceSpec{
				Name: st.Name, State: st.State, Healthy: st.State == supervisor.StateHealthy, Restarts: st.Restarts,
				PID: st.Pid, Since: st.Since, LastError: st.LastError,
			})
		}
	}
}
