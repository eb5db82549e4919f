package configstate

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/kiln-os/kiln/initd/resources"
)

// The Network phase and ApplyConfiguration wait for the controllers to report that they
// applied the config in force: each status names the config (by digest) it realizes.

// WaitNetwork waits until the NetworkController has applied the config in force (before
// there is one, the default network).
func WaitNetwork(ctx context.Context, store *resources.Store) error {
	return waitStatus(ctx, store, resources.TypeNetworkStatus, resources.NetworkStatusID, networkOutcome)
}

// WaitSysctls waits until the SysctlController has written the config's sysctls.
func WaitSysctls(ctx context.Context, store *resources.Store) error {
	return waitStatus(ctx, store, resources.TypeSysctlStatus, resources.SysctlStatusID, sysctlOutcome)
}

// WaitApplied waits (bounded) for the controllers to apply a config that ApplyConfiguration
// published, and returns what they could not apply, as warnings for the caller.
func WaitApplied(ctx context.Context, store *resources.Store, d time.Duration) []string {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var warnings []string
	for _, w := range []struct {
		typ, id string
		outcome func(any, string) (bool, error)
	}{
		{resources.TypeNetworkStatus, resources.NetworkStatusID, networkOutcome},
		{resources.TypeSysctlStatus, resources.SysctlStatusID, sysctlOutcome},
	} {
		if err := waitStatus(ctx, store, w.typ, w.id, w.outcome); err != nil {
			warnings = append(warnings, err.Error())
		}
	}
	return warnings
}

// waitStatus watches one status until outcome says it reports on the config in force,
// and returns the error it reports.
func waitStatus(ctx context.Context, store *resources.Store, typ, id string, outcome func(spec any, sha string) (bool, error)) error {
	ns := resources.NamespaceOf(typ)
	ch, err := store.Watch(ctx, ns, typ, id, resources.WatchOptions{})
	if err != nil {
		return err
	}
	for ev := range ch {
		if ev.Type != resources.EventCreated && ev.Type != resources.EventUpdated {
			continue
		}
		sha := "" // before LoadConfig: the default network, derived from no config
		if cfg := Current(store); cfg != nil {
			sha = cfg.SHA256
		}
		if done, err := outcome(ev.Resource.Spec, sha); done {
			return err
		}
	}
	return fmt.Errorf("%s/%s has not reported the config in force: %w", ns, typ, ctx.Err())
}

func networkOutcome(spec any, sha string) (bool, error) {
	st, ok := spec.(*resources.NetworkStatusSpec)
	if !ok || st.ConfigSHA256 != sha {
		return false, nil
	}
	if st.Error != "" {
		return true, errors.New(st.Error)
	}
	return true, nil
}

func sysctlOutcome(spec any, sha string) (bool, error) {
	st, ok := spec.(*resources.SysctlStatusSpec)
	if !ok || st.ConfigSHA256 != sha {
		return false, nil
	}
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(st.Errors)) {
		errs = append(errs, errors.New(st.Errors[name]))
	}
	return true, errors.Join(errs...)
}
