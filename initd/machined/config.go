package machined

import (
	"bytes"
	"context"
	"errors"
	"os"

	"github.com/sirupsen/logrus"

	"github.com/kiln-os/kiln/initd/configstate"
	"github.com/kiln-os/kiln/initd/resources"
	"github.com/kiln-os/kiln/kernel/kspp"
)

// loadConfig finds the machine config, or waits in maintenance mode for one, persists it
// to STATE and publishes it; the controllers start here, with the config when there is
// one, so that the network they bring up is the config's from the start.
func (m *Machined) loadConfig(ctx context.Context, log logrus.FieldLogger) error {
	loaded, err := configstate.Find(ctx, configstate.Sources{
		StateDir: m.stateDir,
		FwCfg:    configstate.FwCfg,
		URL:      cmdlineParam(cmdline(), configstate.URLParam),
		Network:  func(context.Context) error { m.startControllers(); return nil }, // the default network
		Log:      log,
	})
	if errors.Is(err, configstate.ErrNoConfig) {
		m.startControllers() // the default network, for apply-config
		loaded, err = m.maintenance(ctx, log)
	}
	if err != nil {
		return err
	}
	if loaded.Source == resources.ConfigSourceURL || loaded.Source == resources.ConfigSourceFwCfg { // maintenance persisted its own
		if err := configstate.Persist(m.stateDir, loaded.Config); err != nil {
			return err
		}
	}
	if err := configstate.Publish(ctx, m.Resources, m.emit, loaded); err != nil {
		return err
	}
	m.startControllers()
	log.WithField("source", loaded.Source).WithField("type", loaded.Config.Machine.Type).Info("machine config loaded")
	return nil
}

// cmdline returns the kernel command line.
func cmdline() string {
	data, _ := os.ReadFile("/proc/cmdline")
	return string(bytes.TrimSpace(data))
}

// cmdlineParam returns the value of name=VALUE on the command line, "" when absent.
func cmdlineParam(cmdline, name string) string {
	return kspp.ParseCmdline(cmdline)[name]
}
