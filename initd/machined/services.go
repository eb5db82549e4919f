package machined

import (
	"context"
	"fmt"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kiln-os/kiln/initd/configstate"
	"github.com/kiln-os/kiln/initd/events"
	"github.com/kiln-os/kiln/initd/resources"
	"github.com/kiln-os/kiln/initd/watchdog"
)

// waitNetwork is the ConfigureNetwork task: the NetworkController does the work.
func (m *Machined) waitNetwork(ctx context.Context, log logrus.FieldLogger) error {
	return configstate.WaitNetwork(ctx, m.Resources)
}

// waitSysctls is the ApplySysctls task: the SysctlController does the work.
func (m *Machined) waitSysctls(ctx context.Context, log logrus.FieldLogger) error {
	return configstate.WaitSysctls(ctx, m.Resources)
}

// startServices is the Supervise task: once this phase has begun, the service spec
// controller lists the services and the service controller starts them; it waits until
// they are all healthy.
func (m *Machined) startServices(ctx context.Context, log logrus.FieldLogger) error {
	if !hasWatchdog() {
		m.emit(events.Event{Type: events.TypeInfo, Name: "watchdogd", State: "absent",
			Fields: map[string]string{"reason": "no " + watchdog.DefaultDevice}})
	}
	if err := waitAPICert(ctx, m.Resources); err != nil {
		return err
	}
	sup, err := m.services.WaitRunning(ctx)
	if err != nil {
		return err
	}
	if err := sup.WaitHealthy(ctx); err != nil {
		return fmt.Errorf("services not healthy: %w", err)
	}
	log.WithField("services", len(sup.Snapshot())).Info("services healthy")
	return nil
}

// waitAPICert waits until the controller has published the API certificate.
func waitAPICert(ctx context.Context, store *resources.Store) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ch, err := store.Watch(ctx, resources.NamespaceSecrets, resources.TypeAPICertificate, resources.APICertificateID, resources.WatchOptions{})
	if err != nil {
		return err
	}
	for ev := range ch {
		if ev.Type == resources.EventCreated || ev.Type == resources.EventUpdated {
			return nil
		}
	}
	return fmt.Errorf("no API certificate after 30 s (see the APICertificateController's log): %w", ctx.Err())
}
