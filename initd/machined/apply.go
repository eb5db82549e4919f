package machined

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kiln-os/kiln/api/machine"
	"github.com/kiln-os/kiln/config"
	"github.com/kiln-os/kiln/initd/configstate"
	"github.com/kiln-os/kiln/initd/resources"
)

// applyConfig is ApplyConfiguration: validate, diff, then (unless a dry run) persist
// atomically and publish; the controllers apply it. A rejected config changes nothing: it
// is checked before anything is written, and the old config stays in force.
func (m *Machined) applyConfig(ctx context.Context, req *machine.ApplyConfigurationRequest) (*machine.ApplyConfigurationResponse, error) {
	cfg, err := configstate.Decode(req.GetData())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, "config rejected, nothing changed:\n"+err.Error())
	}
	var old *config.Config
	if cur := configstate.Current(m.Resources); cur != nil {
		old = cur.Config
	}
	needsReboot, changed := rebootNeeded(old, cfg)
	resp := &machine.ApplyConfigurationResponse{Diff: strings.Join(changed, "\n")}
	if req.GetDryRun() {
		resp.ModeApplied = "dry_run"
		return resp, nil
	}
	loaded := configstate.Loaded{Config: cfg, Data: req.GetData(), Source: resources.ConfigSourceAPI}
	if m.maintenanceMode() {
		return m.applyInMaintenance(ctx, loaded, resp)
	}
	if needsReboot && req.GetMode() == machine.ApplyConfigurationRequest_NO_REBOOT {
		return nil, status.Errorf(codes.FailedPrecondition, "these changes need a reboot (%s); apply with --mode reboot or auto", strings.Join(changed, ", "))
	}
	if err := configstate.Persist(m.stateMount(), cfg); err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	if err := configstate.Publish(ctx, m.Resources, m.emit, loaded); err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	if needsReboot || req.GetMode() == machine.ApplyConfigurationRequest_REBOOT {
		resp.ModeApplied = "reboot"
		m.requestPower(request{reboot: true, reason: "config applied"})
		return resp, nil
	}
	resp.ModeApplied = "no_reboot"
	resp.Warnings = m.waitApplied(ctx, 20*time.Second)
	return resp, nil
}

// applyInMaintenance hands the first config to the waiting LoadConfig phase and answers
// once it is on STATE (or why it is not).
func (m *Machined) applyInMaintenance(ctx context.Context, loaded configstate.Loaded, resp *machine.ApplyConfigurationResponse) (*machine.ApplyConfigurationResponse, error) {
	result := make(chan error, 1)
	select {
	case m.applied <- appliedConfig{loaded: loaded, result: result}:
	case <-time.After(time.Second): // LoadConfig is busy with another config
		return nil, status.Error(codes.Aborted, "a config is already being applied; check with kilnctl version")
	}
	select {
	case err := <-result:
		if err != nil {
			return nil, status.Error(codes.Internal, "config valid but not saved to STATE, the node stays in maintenance mode: "+err.Error())
		}
		resp.ModeApplied = "no_reboot"
		return resp, nil
	case <-ctx.Done():
		return nil, status.FromContextError(ctx.Err()).Err()
	}
}

// rebootNeeded compares two configs: network, time, sysctls and certSANs apply live. It
// lists the top-level sections that changed.
func rebootNeeded(old, cfg *config.Config) (bool, []string) {
	if old == nil {
		return false, []string{"+ whole config (none in force)"}
	}
	var changed []string
	reboot := false
	diff := func(name string, a, b any, live bool) {
		if fmt.Sprint(a) != fmt.Sprint(b) {
			changed = append(changed, "~ "+name)
			reboot = reboot || !live
		}
	}
	diff("machine.type", old.Machine.Type, cfg.Machine.Type, false)
	diff("machine.token", old.Machine.Token, cfg.Machine.Token, false)
	diff("machine.ca", old.Machine.CA, cfg.Machine.CA, false)
	diff("machine.certSANs", old.Machine.CertSANs, cfg.Machine.CertSANs, true)
	diff("machine.network", old.Machine.Network, cfg.Machine.Network, true)
	diff("machine.time", old.Machine.Time, cfg.Machine.Time, true)
	diff("machine.install", old.Machine.Install, cfg.Machine.Install, false)
	diff("machine.sysctls", sortedMap(old.Machine.Sysctls), sortedMap(cfg.Machine.Sysctls), true)
	diff("cluster", old.Cluster, cfg.Cluster, false)
	return reboot, changed
}

func sortedMap(m map[string]string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(m)) {
		fmt.Fprintf(&b, "%s=%s;", k, m[k])
	}
	return b.String()
}
