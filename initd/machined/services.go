package machined

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kiln-os/kiln/initd/events"
	"github.com/kiln-os/kiln/initd/resources"
	"github.com/kiln-os/kiln/initd/watchdog"
)

// startServices is the Supervise task: once this phase has begun, the service spec
// controller lists the services (runtime/ServiceSet) and the service controller starts
// them; it waits until every one of them reports healthy in runtime/Service. It reads only
// resources, so a supervisor replaced under it (the set changed) is no concern of its.
func startServices(store *resources.Store, emit func(events.Event)) taskFunc {
	return func(ctx context.Context, log logrus.FieldLogger) error {
		if !hasWatchdog() {
			emit(events.Event{Type: events.TypeInfo, Name: "watchdogd", State: "absent",
				Fields: map[string]string{"reason": "no " + watchdog.DefaultDevice}})
		}
		if err := waitAPICert(ctx, store, 30*time.Second); err != nil {
			return err
		}
		names, err := waitServicesHealthy(ctx, store)
		if err != nil {
			return err
		}
		log.WithField("services", len(names)).Info("services healthy")
		return nil
	}
}

// waitServicesHealthy returns the names in runtime/ServiceSet once each has a healthy
// runtime/Service; the error, when ctx ends first, says which are not and why.
func waitServicesHealthy(ctx context.Context, store *resources.Store) ([]string, error) {
	changes, err := store.Watch(ctx, resources.NamespaceRuntime, resources.TypeService, "", resources.WatchOptions{})
	if err != nil {
		return nil, err
	}
	sets, err := store.Watch(ctx, resources.NamespaceRuntime, resources.TypeServiceSet, resources.ServiceSetID, resources.WatchOptions{})
	if err != nil {
		return nil, err
	}
	for {
		names, pending := unhealthyServices(store)
		if names != nil && len(pending) == 0 {
			return names, nil
		}
		select {
		case <-changes:
		case <-sets:
		case <-ctx.Done():
			if names == nil {
				return nil, fmt.Errorf("services not healthy: the ServiceSpecController has listed no services: %w", ctx.Err())
			}
			return nil, fmt.Errorf("services not healthy: %s: %w", strings.Join(pending, "; "), ctx.Err())
		}
	}
}

// unhealthyServices reads the service set (nil before there is one) and describes the
// services in it that are not healthy, leaving out the optional ones.
func unhealthyServices(store *resources.Store) (names, pending []string) {
	res, err := store.Get(resources.NamespaceRuntime, resources.TypeServiceSet, resources.ServiceSetID)
	if err != nil {
		return nil, nil
	}
	set, _ := res.Spec.(*resources.ServiceSetSpec)
	if set == nil {
		return nil, nil
	}
	for _, name := range set.Names {
		if optional(store, name) {
			continue // Kubernetes: the node is ready without it, and says why
		}
		if desc := serviceTrouble(store, name); desc != "" {
			pending = append(pending, desc)
		}
	}
	return set.Names, pending
}

// optional reports whether Ready does not wait for the service.
func optional(store *resources.Store, name string) bool {
	res, err := store.Get(resources.NamespaceRuntime, resources.TypeServiceSpec, name)
	if err != nil {
		return false
	}
	spec, _ := res.Spec.(*resources.ServiceSpecSpec)
	return spec != nil && spec.Optional
}

// serviceTrouble is "" for a healthy service, else its name, state and last error.
func serviceTrouble(store *resources.Store, name string) string {
	res, err := store.Get(resources.NamespaceRuntime, resources.TypeService, name)
	if err != nil {
		return name + " not started"
	}
	st, _ := res.Spec.(*resources.ServiceSpec)
	switch {
	case st == nil:
		return name + " not started"
	case st.Healthy:
		return ""
	case st.LastError != "":
		return name + " " + st.State + ": " + st.LastError
	}
	return name + " " + st.State
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
