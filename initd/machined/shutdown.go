package machined

import (
	"context"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kiln-os/kiln/initd/disks"
	"github.com/kiln-os/kiln/initd/events"
	"github.com/kiln-os/kiln/initd/halt"
)

// serviceStopBudget bounds the stop of the services: the whole shutdown must fit in what
// a hypervisor or an operator waits for after pressing the button.
const serviceStopBudget = 20 * time.Second

// shutdown stops services in reverse order, kills what is left, syncs, makes every
// filesystem read-only and returns the ShutdownError that PID 1's exit path performs.
func (m *Machined) shutdown(req request) error {
	state := events.StateShutdown
	if req.reboot {
		state = events.StateReboot
	}
	m.emit(events.Event{Type: events.TypeBoot, Name: "machined", State: state, Fields: map[string]string{"reason": req.reason}})
	if err := m.lockState(); err != nil { // a shutdown during the boot's first phases
		m.Log.WithError(err).Error("could not move PCR 11 past STATE's signed value")
	}
	if m.containers != nil { // the workloads first, while containerd still runs
		ctx, cancel := context.WithTimeout(context.Background(), serviceStopBudget)
		if err := m.containers.Stop(ctx); err != nil {
			m.Log.WithError(err).Warn("containers did not stop in time")
		}
		cancel()
	}
	if sup := m.services.Supervisor(); sup != nil {
		ctx, cancel := context.WithTimeout(context.Background(), serviceStopBudget)
		if err := sup.Stop(ctx); err != nil {
			m.Log.WithError(err).Warn("services did not stop in time")
		}
		cancel()
	}
	m.wd.Release(false)
	halt.KillAll(m.Log)
	unix.Sync()
	halt.RemountReadOnly(m.Log)
	disks.CloseState(m.Log)
	if req.wipeState || req.wipeEphemeral {
		disks.Wipe(m.Log, m.emit, req.wipeState, req.wipeEphemeral)
	}
	m.emit(events.Event{Type: events.TypeBoot, Name: "machined", State: events.StateStopped, Fields: uptimeField()})
	m.Sink.Close(2 * time.Second)
	return &ShutdownError{Reboot: req.reboot, Reason: req.reason}
}
