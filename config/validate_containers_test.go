package config

import (
	"strings"
	"testing"
)

func TestValidateContainers(t *testing.T) {
	good := Container{Name: "hello", Image: "kiln.test/hello:1", Env: map[string]string{"PORT": "8080"}, Restart: RestartOnFailure,
		Resources: ContainerResources{Memory: "64MiB", CPU: "0.5", Pids: 64}, Capabilities: []string{"CAP_NET_BIND_SERVICE"}}
	for _, tc := range []struct {
		name   string
		change func(c *Container)
		want   string // "" for valid
	}{
		{"good", func(*Container) {}, ""},
		{"digest reference", func(c *Container) { c.Image = "registry.local:5000/a/b@sha256:" + strings.Repeat("ab", 32) }, ""},
		{"name upper", func(c *Container) { c.Name = "Hello" }, "machine.containers[0].name: must be a DNS label"},
		{"name dash end", func(c *Container) { c.Name = "hello-" }, "machine.containers[0].name:"},
		{"image upper path", func(c *Container) { c.Image = "Kiln/Hello" }, "machine.containers[0].image: must be an image reference"},
		{"image empty", func(c *Container) { c.Image = "" }, "machine.containers[0].image:"},
		{"env name", func(c *Container) { c.Env = map[string]string{"1X": "y"} }, `machine.containers[0].env["1X"]: must be a variable name`},
		{"restart", func(c *Container) { c.Restart = "sometimes" }, "machine.containers[0].restart: must be always, on-failure or never"},
		{"memory unit", func(c *Container) { c.Resources.Memory = "64 parsecs" }, "machine.containers[0].resources.memory:"},
		{"memory compared", func(c *Container) { c.Resources.Memory = ">= 64MiB" }, "machine.containers[0].resources.memory:"},
		{"memory tiny", func(c *Container) { c.Resources.Memory = "4KiB" }, "machine.containers[0].resources.memory: \"4KiB\" is below"},
		{"cpu word", func(c *Container) { c.Resources.CPU = "half" }, "machine.containers[0].resources.cpu:"},
		{"cpu zero", func(c *Container) { c.Resources.CPU = "0" }, "machine.containers[0].resources.cpu:"},
		{"pids negative", func(c *Container) { c.Resources.Pids = -1 }, "machine.containers[0].resources.pids:"},
		{"capability", func(c *Container) { c.Capabilities = []string{"NET_ADMIN"} }, `machine.containers[0].capabilities[0]: "NET_ADMIN" is not a Linux capability`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := fullConfig(t)
			c := good
			tc.change(&c)
			cfg.Machine.Containers = []Container{c}
			err := cfg.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantErrorContaining(t, err, tc.want)
		})
	}
	cfg := fullConfig(t)
	cfg.Machine.Containers = []Container{good, good}
	wantErrorContaining(t, cfg.Validate(), `machine.containers[1].name: "hello" is already the name of machine.containers[0]`)
}

func TestContainerResources(t *testing.T) {
	r := ContainerResources{Memory: "64MiB", CPU: "0.25"}
	if n, err := r.MemoryBytes(); err != nil || n != 64<<20 {
		t.Errorf("MemoryBytes = %d, %v; want %d", n, err, 64<<20)
	}
	if n, err := r.CPUMillis(); err != nil || n != 250 {
		t.Errorf("CPUMillis = %d, %v; want 250", n, err)
	}
	if n, err := (ContainerResources{}).MemoryBytes(); err != nil || n != 0 {
		t.Errorf("empty MemoryBytes = %d, %v", n, err)
	}
}

func TestRedactHidesContainerEnv(t *testing.T) {
	cfg := fullConfig(t)
	cfg.Machine.Containers = []Container{{Name: "db", Image: "db:1", Env: map[string]string{"PASSWORD": "hunter2"}}}
	if got := Redact(cfg).Machine.Containers[0].Env["PASSWORD"]; got != redacted {
		t.Errorf("env value after Redact = %q, want %q", got, redacted)
	}
}
