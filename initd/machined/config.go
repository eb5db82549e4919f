package machined

import (
	"bytes"
	"context"
	"errors"
	"os"
	"time"

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
		Network:  m.defaultNetwork,
		Log:      log,
	})
	if errors.Is(err, configstate.ErrNoConfig) {
		if err := m.defaultNetwork(ctx); err != nil {
			log.WithError(err).Warn("no network yet; apid listens anyway")
		}
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

// defaultNetwork starts the controllers without a config, which brings up the default
// network (DHCP on every link with carrier), and waits for it, bounded as the Network
// phase is: the config URL and maintenance mode need it before they can go on.
func (m *Machined) defaultNetwork(ctx context.Context) error {
	m.startControllers()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	return configstate.WaitNetwork(ctx, m.Resources)
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
