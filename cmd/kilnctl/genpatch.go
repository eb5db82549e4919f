package main

import (
	"flag"
	"fmt"

	"github.com/kiln-os/kiln/config"
)

// configPatchFlags are gen config's patches, as talosctl names them: to both configs,
// to the controlplane's, to the worker's. Each is applied after the common ones.
type configPatchFlags struct {
	both, controlplane, worker patchList
}

func (p *configPatchFlags) register(fs *flag.FlagSet) {
	const how = "inline YAML or JSON, or @FILE (repeatable): a list is an RFC 6902 JSON patch, a mapping a strategic merge patch"
	fs.Var(&p.both, "config-patch", "patch both generated configs: "+how)
	fs.Var(&p.controlplane, "config-patch-control-plane", "patch controlplane.yaml: "+how)
	fs.Var(&p.worker, "config-patch-worker", "patch worker.yaml: "+how)
}

// apply returns both configs with their patches applied and validated.
func (p *configPatchFlags) apply(controlplane, worker *config.Config) (*config.Config, *config.Config, error) {
	both, err := readPatches("config-patch", p.both)
	if err != nil {
		return nil, nil, err
	}
	cp, err := readPatches("config-patch-control-plane", p.controlplane)
	if err != nil {
		return nil, nil, err
	}
	w, err := readPatches("config-patch-worker", p.worker)
	if err != nil {
		return nil, nil, err
	}
	if controlplane, err = patchConfig(controlplane, append(both[:len(both):len(both)], cp...)); err != nil {
		return nil, nil, fmt.Errorf("controlplane.yaml: %w", err)
	}
	if worker, err = patchConfig(worker, append(both[:len(both):len(both)], w...)); err != nil {
		return nil, nil, fmt.Errorf("worker.yaml: %w", err)
	}
	return controlplane, worker, nil
}
