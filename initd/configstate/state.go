package configstate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"

	"github.com/kiln-os/kiln/config"
	"github.com/kiln-os/kiln/initd/events"
	"github.com/kiln-os/kiln/initd/resources"
	"github.com/kiln-os/kiln/initd/resources/controller"
	"github.com/kiln-os/kiln/kernel/kspp"
)

// Owner writes the config resource.
const Owner = "machined"

// Decode parses and validates a config: the config's own rules, then the KSPP sysctls.
func Decode(data []byte) (*config.Config, error) {
	cfg, err := config.Decode(data)
	if err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := checkSysctls(cfg); err != nil {
		return nil, err
	}
	return cfg, nil
}

// checkSysctls refuses a config that would set a KSPP sysctl (kernel/kspp) to another value
// than the rule's: a config cannot weaken the hardening.
func checkSysctls(cfg *config.Config) error {
	var errs config.FieldErrors
	for _, rule := range kspp.Of(kspp.Sysctl, kspp.Required) {
		if v, ok := cfg.Machine.Sysctls[rule.Name]; ok && v != rule.Value {
			errs = append(errs, &config.FieldError{Path: fmt.Sprintf("machine.sysctls[%s]", rule.Name),
				Reason: fmt.Sprintf("%q weakens KSPP hardening; only %q is allowed (%s)", v, rule.Value, rule.Reason)})
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// Persist writes the config to STATE atomically (config.Save: write, fsync, rename).
func Persist(stateDir string, cfg *config.Config) error {
	if err := os.MkdirAll(filepath.Dir(Path(stateDir)), 0o700); err != nil {
		return err
	}
	if err := config.Save(Path(stateDir), cfg); err != nil {
		return fmt.Errorf("save the config to STATE: %w", err)
	}
	return nil
}

// Publish makes l the config in force: the config resource, and a "config loaded" event.
func Publish(ctx context.Context, store *resources.Store, emit func(events.Event), l Loaded) error {
	sum := sha256.Sum256(l.Data)
	spec := &resources.MachineConfigSpec{Config: l.Config, SHA256: hex.EncodeToString(sum[:]), Version: l.Config.Version, Source: l.Source}
	_, err := store.Set(ctx, resources.NamespaceConfig, resources.TypeMachineConfig, resources.MachineConfigID, Owner, spec)
	if err != nil {
		return fmt.Errorf("publish the config: %w", err)
	}
	emit(events.Event{Type: events.TypeInfo, Name: "config", State: "loaded", Fields: map[string]string{"source": l.Source, "sha256": spec.SHA256}})
	return nil
}

// Current is the config in force; nil before LoadConfig.
func Current(store *resources.Store) *resources.MachineConfigSpec {
	res, err := store.Get(resources.NamespaceConfig, resources.TypeMachineConfig, resources.MachineConfigID)
	if err != nil {
		return nil
	}
	spec, _ := res.Spec.(*resources.MachineConfigSpec)
	return spec
}

// FromRuntime is the config in force as a controller reads it (config/MachineConfig must
// be one of its inputs); nil, without an error, before LoadConfig.
func FromRuntime(r *controller.Runtime) (*resources.MachineConfigSpec, error) {
	spec, err := controller.Spec[resources.MachineConfigSpec](r, resources.NamespaceConfig, resources.TypeMachineConfig, resources.MachineConfigID)
	if err == nil && spec != nil && spec.Config == nil {
		return nil, fmt.Errorf("%s/%s holds no config", resources.NamespaceConfig, resources.TypeMachineConfig)
	}
	return spec, err
}

// Input is the config resource as a controller input.
var Input = controller.Input{Namespace: resources.NamespaceConfig, Type: resources.TypeMachineConfig}
