package machined

import (
	"context"
	"fmt"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kiln-os/kiln/api/apid"
	"github.com/kiln-os/kiln/config"
	"github.com/kiln-os/kiln/initd/events"
	"github.com/kiln-os/kiln/initd/resources"
)

// appliedConfig is a config that ApplyConfiguration accepted in maintenance mode.
type appliedConfig struct {
	cfg    *config.Config
	data   []byte
	result chan error // nil once persisted to STATE; else why not (the node keeps waiting)
}

// maintenance is the node without a config: the default network comes up (DHCP on every
// link with carrier), apid serves only Version and ApplyConfiguration over TLS with a
// self-signed certificate whose fingerprint is on the console and in the events, and the
// boot waits, for as long as it takes, for a valid config.
func (m *Machined) maintenance(ctx context.Context, log logrus.FieldLogger) (*config.Config, []byte, error) {
	m.setMaintenance(true)
	defer m.setMaintenance(false)
	m.holdWatchdog() // waiting for an operator is not a hung boot
	if err := m.ensureDefaultNetwork(ctx, log); err != nil {
		log.WithError(err).Warn("no network yet; apid listens anyway")
	}
	cert, fingerprint, err := apid.SelfSignedMaintenanceCert(time.Now())
	if err != nil {
		return nil, nil, err
	}
	svc, err := m.startMaintenanceAPI(log, cert)
	if err != nil {
		return nil, nil, err
	}
	defer svc.stop()
	if err := waitDialable(ctx, "127.0.0.1:"+apidPort, 30*time.Second); err != nil {
		return nil, nil, fmt.Errorf("apid in maintenance mode does not listen: %w", err)
	}
	log.Warnf("no machine config: maintenance mode; apply one with `kilnctl apply-config --insecure -n <node> -f FILE` (server certificate sha256 %s)", fingerprint)
	m.emit(events.Event{Type: events.TypeInfo, Name: "maintenance", State: events.StateWaiting,
		Fields: map[string]string{"fingerprint": fingerprint, "port": "50000"}})
	for {
		select {
		case got := <-m.applied:
			err := m.persistConfig(got.data)
			got.result <- err
			if err != nil {
				log.WithError(err).Error("config not persisted; still in maintenance mode")
				continue
			}
			m.emit(events.Event{Type: events.TypeInfo, Name: "maintenance", State: events.StateDone})
			m.restartBootWatchdog()
			return got.cfg, got.data, nil
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
	}
}

// waitDialable waits until addr accepts connections, for at most d.
func waitDialable(ctx context.Context, addr string, d time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	for {
		err := dialable(ctx, addr)
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

// maintenanceMode reports whether the node waits for its first config.
func (m *Machined) maintenanceMode() bool { return m.inMaintenance.Load() }

func (m *Machined) setMaintenance(on bool) {
	m.inMaintenance.Store(on)
	stage := resources.StageBooting
	if on {
		stage = resources.StageMaintenance
	}
	m.setResource(resources.NamespaceRuntime, resources.TypeMachineStatus, resources.MachineStatusID, &resources.MachineStatusSpec{Stage: stage})
}
