package machined

import (
	"context"

	"github.com/sirupsen/logrus"

	"github.com/kiln-os/kiln/initd/configstate"
	"github.com/kiln-os/kiln/initd/machineapi"
	"github.com/kiln-os/kiln/initd/services"
)

// serveMachineAPI starts machined's side of the API on its unix socket, for the rest of
// the boot.
func (m *Machined) serveMachineAPI(ctx context.Context, log logrus.FieldLogger) error {
	l, err := machineapi.Listen(machineapi.Socket, services.APIDUser.UID, services.APIDUser.GID)
	if err != nil {
		return err
	}
	srv := &machineapi.Server{
		Log:         m.Log.WithField("component", "machineapi"),
		EventSink:   m.Sink,
		LogSet:      m.Logs,
		Services:    m.runningServices,
		Maintenance: m.maintenanceMode,
		Apply:       m.applier().Apply,
		Power:       m.power,
		Resources:   m.Resources,
		TPM:         machineapi.DefaultTPM,
		Controllers: m.controllers.Controllers,
	}
	go func() {
		if err := srv.Serve(context.Background(), l); err != nil {
			m.Log.WithError(err).Error("machine API stopped")
		}
	}()
	log.WithField("socket", machineapi.Socket).Info("machine API serving")
	return nil
}

func (m *Machined) runningServices() machineapi.Services {
	if sup := m.services.Supervisor(); sup != nil {
		return sup
	}
	return nil
}

// applier accepts configs from the API.
func (m *Machined) applier() *configstate.Applier {
	return &configstate.Applier{
		Store: m.Resources, Emit: m.emit, StateDir: m.stateMount(), Maintenance: m.maintenanceMode, Handoff: m.handoff,
		Reboot: func(why string) { m.requestPower(request{reboot: true, reason: why}) },
	}
}

// power queues a reboot, power off or reset for Run.
func (m *Machined) power(p machineapi.Power) error {
	m.requestPower(request{reboot: p.Reboot, reason: p.Reason, wipeState: p.WipeState, wipeEphemeral: p.WipeEphemeral})
	return nil
}
