package machined

import (
	"context"

	"github.com/sirupsen/logrus"

	"github.com/kiln-os/kiln/config"
	"github.com/kiln-os/kiln/initd/configstate"
	"github.com/kiln-os/kiln/initd/diag"
	"github.com/kiln-os/kiln/initd/machineapi"
	"github.com/kiln-os/kiln/initd/services"
)

// serveMachineAPI starts machined's side of the API on its unix socket, for the rest of
// the boot. The server reads the store and asks machined for changes through callbacks.
func (m *Machined) serveMachineAPI(ctx context.Context, log logrus.FieldLogger) error {
	l, err := machineapi.Listen(machineapi.Socket, services.APIDUser.UID, services.APIDUser.GID)
	if err != nil {
		return err
	}
	applier := &configstate.Applier{
		Store: m.Resources, Emit: m.emit, StateDir: m.stateDir, Maintenance: m.inMaintenance.Load, Handoff: m.handoff,
		Reboot:   func(why string) { m.requestPower(request{reboot: true, reason: why}) },
		Installs: m.installs,
		Install:  func(cfg *config.Config) { go m.installRunning(cfg) },
	}
	srv := &machineapi.Server{
		Log:         m.Log.WithField("component", "machineapi"),
		EventSink:   m.Sink,
		LogSet:      m.Logs,
		Services:    func() machineapi.Services { return runningServices(m.services) },
		Maintenance: m.inMaintenance.Load,
		Apply:       applier.Apply,
		Power: func(p machineapi.Power) error {
			m.requestPower(request{reboot: p.Reboot, reason: p.Reason, wipeState: p.WipeState, wipeEphemeral: p.WipeEphemeral})
			return nil
		},
		Resources:   m.Resources,
		TPM:         machineapi.DefaultTPM,
		Controllers: m.controllers.Controllers,
		Upgrades:    m.upgrades(),
		Containers: &machineapi.Containers{Runtime: m.containerRuntime, Imported: m.containers.ImagesChanged,
			CRI: m.criRuntime, Payload: m.importPayload},
		Diag:    diagRoots(),
		Cluster: m.kubeAdmin(),
	}
	go func() {
		if err := srv.Serve(context.Background(), l); err != nil {
			m.Log.WithError(err).Error("machine API stopped")
		}
	}()
	log.WithField("socket", machineapi.Socket).Info("machine API serving")
	return nil
}

// diagRoots is the running node for the diagnostics calls: the service users by name,
// and the ESP found by the label the upgrade path mounts it by.
func diagRoots() *diag.Roots {
	r := diag.Default
	r.Users = map[uint32]string{0: "root", uint32(services.APIDUser.UID): "apid", uint32(services.TrustdUser.UID): "trustd"}
	r.ESPLabel = espLabel
	return &r
}

// runningServices is the supervisor for the API, nil (not a typed nil) before services run.
func runningServices(c *services.Controller) machineapi.Services {
	if sup := c.Supervisor(); sup != nil {
		return sup
	}
	return nil
}
