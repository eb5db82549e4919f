package e2e

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/kiln-os/kiln/config"
	"github.com/kiln-os/kiln/qemu"
)

var machineConfig struct {
	once sync.Once
	path string
	err  error
}

// withConfig hands the VM a generated controlplane machine config through QEMU fw_cfg
// (opt/kiln/config), the way a lab or CI passes one without a network: machined loads it
// in LoadConfig and persists it to STATE.
func withConfig(t *testing.T) qemu.Option {
	t.Helper()
	machineConfig.once.Do(func() {
		dir, err := os.MkdirTemp("", "kiln-e2e-config-")
		if err != nil {
			machineConfig.err = err
			return
		}
		secrets, err := config.GenerateSecrets(time.Now())
		if err != nil {
			machineConfig.err = err
			return
		}
		cp, _, err := config.Generate(config.GenerateInput{Secrets: secrets, ClusterName: "e2e", Endpoint: "https://10.0.2.15:6443"})
		if err != nil {
			machineConfig.err = err
			return
		}
		machineConfig.path = filepath.Join(dir, "controlplane.yaml")
		machineConfig.err = config.Save(machineConfig.path, cp)
	})
	if machineConfig.err != nil {
		t.Fatalf("machine config for the VM: %v", machineConfig.err)
	}
	return qemu.WithExtraArgs("-fw_cfg", "name=opt/kiln/config,file="+machineConfig.path)
}

func TestMain(m *testing.M) {
	code := m.Run()
	if machineConfig.path != "" {
		os.RemoveAll(filepath.Dir(machineConfig.path))
	}
	if enrolment.dir != "" {
		os.RemoveAll(enrolment.dir)
	}
	os.Exit(code)
}
