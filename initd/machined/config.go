package machined

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kiln-os/kiln/config"
	"github.com/kiln-os/kiln/initd/events"
	"github.com/kiln-os/kiln/initd/resources"
	"github.com/kiln-os/kiln/kernel/kspp"
)

// Where the machine config comes from (DESIGN.md "PID 1", LoadConfig), in this order.
const (
	// ConfigFile is the config persisted on STATE (relative to StateMount).
	ConfigFile = "config.yaml"
	// FwCfgConfig is QEMU's `-fw_cfg name=opt/kiln/config,file=...`, seen through
	// CONFIG_FW_CFG_SYSFS.
	FwCfgConfig = "/sys/firmware/qemu_fw_cfg/by_name/opt/kiln/config/raw"
	// ConfigURLParam names the kernel parameter with an http(s) URL of the config.
	ConfigURLParam = "kiln.config"
	maxConfigSize  = 1 << 20
	owner          = "machined"
)

var errNoConfig = errors.New("no machine config")

// loadConfig finds the machine config, or waits in maintenance mode for one, persists it
// to STATE and publishes it.
func (m *Machined) loadConfig(ctx context.Context, log logrus.FieldLogger) error {
	cfg, data, source, err := m.findConfig(ctx, log)
	if errors.Is(err, errNoConfig) {
		cfg, data, err = m.maintenance(ctx, log)
		source = resources.ConfigSourceAPI
	}
	if err != nil {
		return err
	}
	if source != resources.ConfigSourceState && source != resources.ConfigSourceAPI { // maintenance persisted its own
		if err := m.persistConfig(data); err != nil {
			return err
		}
	}
	m.publishConfig(cfg, data, source)
	log.WithField("source", source).WithField("type", cfg.Machine.Type).Info("machine config loaded")
	return nil
}

// findConfig tries STATE, the kiln.config= URL and fw_cfg.
func (m *Machined) findConfig(ctx context.Context, log logrus.FieldLogger) (*config.Config, []byte, string, error) {
	path := m.configPath()
	data, err := os.ReadFile(path)
	if err == nil {
		cfg, err := decodeConfig(data)
		if err != nil {
			return nil, nil, "", fmt.Errorf("the config on STATE (%s) is invalid; reset the node or re-apply: %w", path, err)
		}
		return cfg, data, resources.ConfigSourceState, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, nil, "", err
	}
	if url := cmdlineParam(m.cmdline(), ConfigURLParam); url != "" {
		if err := m.ensureDefaultNetwork(ctx, log); err != nil {
			return nil, nil, "", err
		}
		data, err := fetchConfig(ctx, url, log)
		if err != nil {
			return nil, nil, "", err
		}
		cfg, err := decodeConfig(data)
		if err != nil {
			return nil, nil, "", fmt.Errorf("config from %s: %w", url, err)
		}
		return cfg, data, resources.ConfigSourceURL, nil
	}
	if data, err := readLimited(FwCfgConfig); err == nil {
		cfg, err := decodeConfig(data)
		if err != nil {
			return nil, nil, "", fmt.Errorf("config from fw_cfg opt/kiln/config: %w", err)
		}
		return cfg, data, resources.ConfigSourceFwCfg, nil
	}
	return nil, nil, "", errNoConfig
}

func decodeConfig(data []byte) (*config.Config, error) {
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

func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigSize+1))
	if err == nil && len(data) > maxConfigSize {
		err = fmt.Errorf("%s: larger than %d bytes", path, maxConfigSize)
	}
	return data, err
}

// fetchConfig downloads the config, retrying with backoff for up to two minutes: the
// network or the config server may come up after the node.
func fetchConfig(ctx context.Context, url string, log logrus.FieldLogger) ([]byte, error) {
	if !strings.HasPrefix(url, "http://") && !strings.HasPrefix(url, "https://") {
		return nil, fmt.Errorf("%s=%s: only http and https URLs are supported", ConfigURLParam, url)
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	client := &http.Client{Timeout: 30 * time.Second}
	delay := time.Second
	for {
		data, err := fetchOnce(ctx, client, url)
		if err == nil {
			return data, nil
		}
		log.WithError(err).WithField("url", url).Warnf("config download failed; retrying in %s", delay)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("config from %s: %w (last error: %v)", url, ctx.Err(), err)
		case <-time.After(delay):
		}
		delay = min(2*delay, 15*time.Second)
	}
}

func fetchOnce(ctx context.Context, client *http.Client, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxConfigSize+1))
	if err == nil && len(data) > maxConfigSize {
		err = fmt.Errorf("GET %s: larger than %d bytes", url, maxConfigSize)
	}
	return data, err
}

// configPath is the machine config on STATE.
func (m *Machined) configPath() string {
	dir := m.stateDir
	if dir == "" {
		dir = StateMount
	}
	return filepath.Join(dir, ConfigFile)
}

// persistConfig writes the config to STATE atomically (config.Save: write, fsync, rename).
func (m *Machined) persistConfig(data []byte) error {
	cfg, err := decodeConfig(data)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(m.configPath()), 0o700); err != nil {
		return err
	}
	if err := config.Save(m.configPath(), cfg); err != nil {
		return fmt.Errorf("save the config to STATE: %w", err)
	}
	return nil
}

// publishConfig makes cfg the config in force and a resource, with its secrets redacted:
// every API role may read resources, only the node may read keys and the token.
func (m *Machined) publishConfig(cfg *config.Config, data []byte, source string) {
	m.cfgMu.Lock()
	m.cfg = cfg
	m.cfgMu.Unlock()
	redacted := redact(cfg)
	text, err := config.Encode(redacted)
	if err != nil {
		text = []byte("# cannot encode: " + err.Error())
	}
	sum := sha256.Sum256(data)
	spec := &resources.MachineConfigSpec{YAML: string(text), SHA256: hex.EncodeToString(sum[:]), Version: cfg.Version, Source: source}
	m.setResource(resources.NamespaceConfig, resources.TypeMachineConfig, resources.MachineConfigID, spec)
	m.emit(events.Event{Type: events.TypeInfo, Name: "config", State: "loaded", Fields: map[string]string{"source": source, "sha256": spec.SHA256}})
}

// redact returns a copy of cfg without private keys and the join token.
func redact(cfg *config.Config) *config.Config {
	c := *cfg
	const hidden = "REDACTED"
	if c.Machine.CA.Key != "" {
		c.Machine.CA.Key = hidden
	}
	if c.Cluster.CA.Key != "" {
		c.Cluster.CA.Key = hidden
	}
	c.Machine.Token = hidden
	return &c
}

// currentConfig is the config in force, nil before LoadConfig.
func (m *Machined) currentConfig() *config.Config {
	m.cfgMu.Lock()
	defer m.cfgMu.Unlock()
	return m.cfg
}

// cmdline returns the kernel command line.
func (m *Machined) cmdline() string {
	data, _ := os.ReadFile("/proc/cmdline")
	return string(bytes.TrimSpace(data))
}

// cmdlineParam returns the value of name=VALUE on the command line, "" when absent.
func cmdlineParam(cmdline, name string) string {
	return kspp.ParseCmdline(cmdline)[name]
}

// setResource creates or replaces one resource owned by machined.
func (m *Machined) setResource(ns, typ, id string, spec any) {
	_, err := m.Resources.Modify(context.Background(), ns, typ, id, owner, func(any) (any, error) { return spec, nil })
	if err != nil {
		m.Log.WithError(err).WithField("resource", ns+"/"+typ+"/"+id).Warn("publish resource")
	}
}
