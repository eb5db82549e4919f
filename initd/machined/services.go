package machined

import (
	"context"
	"fmt"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kiln-os/kiln/initd/events"
	"github.com/kiln-os/kiln/initd/resources"
	"github.com/kiln-os/kiln/initd/supervisor"
	"github.com/kiln-os/kiln/initd/watchdog"
)

// runner is the part of the service controller the Supervise task waits on.
type runner interface {
	WaitRunning(ctx context.Context) (*supervisor.Supervisor, error)
}

// startServices is the Supervise task: once this phase has begun, the service spec
// controller lists the services and the service controller starts them; it waits until
// they are all healthy.
func startServices(store *resources.Store, svc runner, emit func(events.Event)) taskFunc {
	return func(ctx context.Context, log logrus.FieldLogger) error {
		if !hasWatchdog() {
			emit(events.Event{Type: events.TypeInfo, Name: "watchdogd", State: "absent",
				Fields: map[string]string{"reason": "no " + watchdog.DefaultDevice}})
		}
		if err := waitAPICert(ctx, store, 30*time.Second); err != nil {
			return err
		}
		sup, err := svc.WaitRunning(ctx)
		if err != nil {
			return err
		}
		if err := sup.WaitHealthy(ctx); err != nil {
			return fmt.Errorf("services not healthy: %w", err)
		}
		log.WithField("services", len(sup.Snapshot())).Info("services healthy")
		return nil
	}
}

// waitAPICert waits, for at most d, until the controller has published the API certificate.
func waitAPICert(ctx context.Context, store *resources.Store, d time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, d)
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
	return fmt.Errorf("no API certificate after %s (see the APICertificateController's log): %w", d, ctx.Err())
}
