package containers

import (
	"reflect"
	"strings"
	"testing"

	"github.com/kiln-os/kiln/config"
)

func TestWorkloadsFromConfig(t *testing.T) {
	full := config.Container{
		Name: "web", Image: "kiln.test/web:1", Args: []string{"-port", "8080"},
		Env:                    map[string]string{"TOKEN": "s3cret", "A_FIRST": "1", "MIDDLE": "x=y"},
		Restart:                config.RestartOnFailure,
		Resources:              config.ContainerResources{Memory: "64MiB", CPU: "0.5", Pids: 100},
		WritableRootFilesystem: true, Capabilities: []string{"CAP_NET_BIND_SERVICE"},
	}
	tests := []struct {
		name string
		in   config.Container
		want Workload
	}{
		{"everything", full, Workload{Restart: config.RestartOnFailure, Spec: Spec{
			ID: "web", Image: "kiln.test/web:1", Args: []string{"-port", "8080"},
			Env:         []string{"A_FIRST=1", "MIDDLE=x=y", "TOKEN=s3cret"},
			MemoryBytes: 64 << 20, CPUMillis: 500, Pids: 100, WritableRoot: true,
			Capabilities: []string{"CAP_NET_BIND_SERVICE"},
		}}},
		{"defaults", config.Container{Name: "a", Image: "a:1"},
			Workload{Restart: config.RestartAlways, Spec: Spec{ID: "a", Image: "a:1"}}},
		{"empty lists are absent", config.Container{Name: "a", Image: "a:1", Args: []string{}, Env: map[string]string{}, Capabilities: []string{}},
			Workload{Restart: config.RestartAlways, Spec: Spec{ID: "a", Image: "a:1"}}},
		{"never", config.Container{Name: "a", Image: "a:1", Restart: config.RestartNever},
			Workload{Restart: config.RestartNever, Spec: Spec{ID: "a", Image: "a:1"}}},
		{"two CPUs", config.Container{Name: "a", Image: "a:1", Resources: config.ContainerResources{CPU: "2", Memory: "1GiB"}},
			Workload{Restart: config.RestartAlways, Spec: Spec{ID: "a", Image: "a:1", CPUMillis: 2000, MemoryBytes: 1 << 30}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := &config.Config{Machine: config.Machine{Containers: []config.Container{tt.in}}}
			got, err := WorkloadsFromConfig(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || !reflect.DeepEqual(got[0], tt.want) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
			specs, err := SpecsFromConfig(cfg)
			if err != nil || len(specs) != 1 || !reflect.DeepEqual(specs[0], tt.want.Spec) {
				t.Errorf("SpecsFromConfig = %+v, %v", specs, err)
			}
		})
	}
}

// The workload holds copies: a later change to the config does not reach a running spec.
func TestWorkloadsDoNotShareTheConfigsSlices(t *testing.T) {
	cfg := &config.Config{Machine: config.Machine{Containers: []config.Container{{Name: "a", Image: "a:1", Args: []string{"x"}}}}}
	got, err := WorkloadsFromConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Machine.Containers[0].Args[0] = "changed"
	if got[0].Spec.Args[0] != "x" {
		t.Error("the workload's args alias the config's")
	}
}

func TestWorkloadsFromConfigOrderAndNone(t *testing.T) {
	got, err := WorkloadsFromConfig(&config.Config{})
	if err != nil || len(got) != 0 {
		t.Errorf("no containers: %v, %v", got, err)
	}
	cfg := &config.Config{Machine: config.Machine{Containers: []config.Container{{Name: "z", Image: "z:1"}, {Name: "a", Image: "a:1"}}}}
	got, err = WorkloadsFromConfig(cfg)
	if err != nil || len(got) != 2 || got[0].Spec.ID != "z" || got[1].Spec.ID != "a" {
		t.Errorf("want the config's order: %+v, %v", got, err)
	}
}

func TestWorkloadsFromConfigRefusesBadEntries(t *testing.T) {
	tests := []struct {
		in   config.Container
		want string
	}{
		{config.Container{Name: "m", Image: "a:1", Resources: config.ContainerResources{Memory: "lots"}}, "machine.containers[1] (m): resources.memory"},
		{config.Container{Name: "c", Image: "a:1", Resources: config.ContainerResources{CPU: "-1"}}, "machine.containers[1] (c): resources.cpu"},
		{config.Container{Name: "p", Image: "a:1", Resources: config.ContainerResources{Pids: -1}}, "resources.pids: must not be negative"},
		{config.Container{Name: "r", Image: "a:1", Restart: "sometimes"}, `restart: must be always, on-failure or never, got "sometimes"`},
		{config.Container{Name: "noimage"}, "needs a name and an image"},
	}
	for _, tt := range tests {
		cfg := &config.Config{Machine: config.Machine{Containers: []config.Container{{Name: "ok", Image: "ok:1"}, tt.in}}}
		_, err := WorkloadsFromConfig(cfg)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: error %v, want one containing %q", tt.in, err, tt.want)
		}
	}
}

func TestRestartPolicies(t *testing.T) {
	tests := []struct {
		policy string
		code   uint32
		want   bool
	}{
		{config.RestartAlways, 0, true},
		{config.RestartAlways, 1, true},
		{config.RestartOnFailure, 0, false},
		{config.RestartOnFailure, 137, true},
		{config.RestartNever, 0, false},
		{config.RestartNever, 1, false},
	}
	for _, tt := range tests {
		if got := restarts(tt.policy, tt.code); got != tt.want {
			t.Errorf("restarts(%s, %d) = %v, want %v", tt.policy, tt.code, got, tt.want)
		}
	}
}
