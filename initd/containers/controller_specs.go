package containers

import (
	"fmt"
	"maps"
	"slices"

	"github.com/kiln-os/kiln/config"
)

// Workload is one machine.containers entry as the controller runs it: what to start, and
// when to start it again.
type Workload struct {
	Spec    Spec
	Restart string // config.RestartAlways, RestartOnFailure or RestartNever; never empty
}

// WorkloadsFromConfig turns machine.containers into workloads, in the config's order.
// Equal entries give equal workloads (env sorted, empty lists as nil), so that a
// re-applied config compares equal to the one running. An entry the config's validation
// would refuse is an error naming the entry.
func WorkloadsFromConfig(cfg *config.Config) ([]Workload, error) {
	out := make([]Workload, 0, len(cfg.Machine.Containers))
	for i, c := range cfg.Machine.Containers {
		w, err := workload(c)
		if err != nil {
			return nil, fmt.Errorf("machine.containers[%d] (%s): %w", i, c.Name, err)
		}
		out = append(out, w)
	}
	return out, nil
}

// SpecsFromConfig is the Spec of every machine.containers entry, in the config's order.
func SpecsFromConfig(cfg *config.Config) ([]Spec, error) {
	workloads, err := WorkloadsFromConfig(cfg)
	if err != nil {
		return nil, err
	}
	specs := make([]Spec, len(workloads))
	for i, w := range workloads {
		specs[i] = w.Spec
	}
	return specs, nil
}

func workload(c config.Container) (Workload, error) {
	if c.Name == "" || c.Image == "" {
		return Workload{}, fmt.Errorf("a container needs a name and an image")
	}
	mem, err := c.Resources.MemoryBytes()
	if err != nil {
		return Workload{}, fmt.Errorf("resources.memory: %w", err)
	}
	cpu, err := c.Resources.CPUMillis()
	if err != nil {
		return Workload{}, fmt.Errorf("resources.cpu: %w", err)
	}
	if c.Resources.Pids < 0 {
		return Workload{}, fmt.Errorf("resources.pids: must not be negative, got %d", c.Resources.Pids)
	}
	policy, err := restartPolicy(c.Restart)
	if err != nil {
		return Workload{}, err
	}
	spec := Spec{
		ID:           c.Name,
		Image:        c.Image,
		Args:         nilIfEmpty(c.Args),
		Env:          envList(c.Env),
		MemoryBytes:  mem,
		CPUMillis:    cpu,
		Pids:         int64(c.Resources.Pids),
		WritableRoot: c.WritableRootFilesystem,
		Capabilities: nilIfEmpty(c.Capabilities),
	}
	return Workload{Spec: spec, Restart: policy}, nil
}

// restartPolicy is the policy a config entry names; empty is the default, always.
func restartPolicy(p string) (string, error) {
	switch p {
	case "":
		return config.RestartAlways, nil
	case config.RestartAlways, config.RestartOnFailure, config.RestartNever:
		return p, nil
	}
	return "", fmt.Errorf("restart: must be %s, %s or %s, got %q", config.RestartAlways, config.RestartOnFailure, config.RestartNever, p)
}

// envList is env as NAME=value, sorted by name; nil for none.
func envList(env map[string]string) []string {
	if len(env) == 0 {
		return nil
	}
	out := make([]string, 0, len(env))
	for _, name := range slices.Sorted(maps.Keys(env)) {
		out = append(out, name+"="+env[name])
	}
	return out
}

// nilIfEmpty copies s; nil when it is empty, so that absent and empty compare equal.
func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return slices.Clone(s)
}

// restarts says whether policy starts a container again after it exited with code.
func restarts(policy string, code uint32) bool {
	switch policy {
	case config.RestartAlways:
		return true
	case config.RestartOnFailure:
		return code != 0
	}
	return false
}
