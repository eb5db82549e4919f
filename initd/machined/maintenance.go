package machined

import (
	"context"
	"fmt"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kiln-os/kiln/api/apid"
	"github.com/kiln-os/kiln/initd/configstate"
	"github.com/kiln-os/kiln/initd/events"
	"github.com/kiln-os/kiln/initd/machineapi"
	"github.com/kiln-os/kiln/initd/resources"
	"github.com/kiln-os/kiln/initd/services"
)

// maintenance is the node without a config: the default network is up (DHCP on every
// link with carrier), apid serves only Version and ApplyConfiguration over TLS with a
// self-signed certificate whose fingerprint is on the console and in the events, and the
// boot waits, for as long as it takes, for a valid config.
func (m *Machined) maintenance(ctx context.Context, log logrus.FieldLogger) (configstate.Loaded, error) {
	m.setMaintenance(true)
	defer m.setMaintenance(false)
	m.wd.Hold() // waiting for an operator is not a hung boot
	cert, fingerprint, err := apid.SelfSignedMaintenanceCert(time.Now())
	if err != nil {
		return configstate.Loaded{}, err
	}
	svc, err := services.StartMaintenance(services.Runner{Log: log, Emit: m.Sink.Emit, Logs: m.Logs, Console: m.Console, Reaper: m.Reaper, Cgroups: m.Cgroups}, machineapi.Socket, cert)
	if err != nil {
		return configstate.Loaded{}, err
	}
	defer svc.Stop()
	if err := waitDialable(ctx, "127.0.0.1:"+services.APIDPort, 30*time.Second); err != nil {
		return configstate.Loaded{}, fmt.Errorf("apid in maintenance mode does not listen: %w", err)
	}
	log.Warnf("no machine config: maintenance mode; apply one with `kilnctl apply-config --fingerprint %s -n <node> -f FILE`", fingerprint)
	m.emit(events.Event{Type: events.TypeInfo, Name: "maintenance", State: events.StateWaiting,
		Fields: map[string]string{"fingerprint": fingerprint, "port": services.APIDPort}})
	loaded, err := m.handoff.Await(ctx, m.stateDir, func(err error) { log.WithError(err).Error("config not persisted; still in maintenance mode") })
	if err != nil {
		return configstate.Loaded{}, err
	}
	m.emit(events.Event{Type: events.TypeInfo, Name: "maintenance", State: events.StateDone})
	m.wd.Restart()
	return loaded, nil
}

// waitDialable waits until addr accepts connections, for at most d.
func waitDialable(ctx context.Context, addr string, d time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	for {
		err := services.Dialable(ctx, addr)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// setMaintenance says in MachineStatus (and to Version) whether the node waits for its
// first config.
func (m *Machined) setMaintenance(on bool) {
	m.inMaintenance.Store(on)
	stage := resources.StageBooting
	if on {
		stage = resources.StageMaintenance
	}
	m.setMachineStatus(func(s *resources.MachineStatusSpec) { s.Stage = stage })
}
