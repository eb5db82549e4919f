package client

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"gopkg.in/yaml.v3"

	"github.com/kiln-os/kiln/internal/atomicfile"
)

// ConfigEnv names the environment variable that overrides the config file's path.
const ConfigEnv = "KILNCONFIG"

// Config is the kilnctl config file: named contexts and the one in use.
type Config struct {
	// Context is the name of the context used when none is asked for.
	Context  string              `yaml:"context"`
	Contexts map[string]*Context `yaml:"contexts"`
}

// Context is how to reach one cluster: its nodes and the credentials to present.
type Context struct {
	// Endpoints are node addresses, host or host:port (default port 50000).
	Endpoints []string `yaml:"endpoints"`
	// Nodes, when set, are the nodes kilnctl commands run on without -n (several at
	// once, as -n a,b,c); without them a command talks to the first endpoint.
	Nodes []string `yaml:"nodes,omitempty"`
	// CA is the OS API CA, PEM: the node's certificate must chain to it.
	CA string `yaml:"ca"`
	// Crt and Key are the client certificate and its private key, PEM.
	Crt string `yaml:"crt"`
	Key string `yaml:"key"`
}

// DefaultConfigPath is $KILNCONFIG, else ~/.kiln/config.
func DefaultConfigPath() (string, error) {
	if p := os.Getenv(ConfigEnv); p != "" {
		return p, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no %s and no home directory: %w", ConfigEnv, err)
	}
	return filepath.Join(home, ".kiln", "config"), nil
}

// LoadConfig reads the config file at path; a missing file is an empty config.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &Config{Contexts: map[string]*Context{}}, nil
	}
	if err != nil {
		return nil, err
	}
	var c Config
	if err := yaml.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("kilnctl config %s: %w", path, err)
	}
	if c.Contexts == nil {
		c.Contexts = map[string]*Context{}
	}
	return &c, nil
}

// Save writes the config to path atomically, readable by its owner only: it holds private
// keys.
func (c *Config) Save(path string) error {
	data, err := yaml.Marshal(c)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return atomicfile.Write(path, data, 0o600)
}

// Merge adds ctx under name, replacing a context of that name, and makes it current.
func (c *Config) Merge(name string, ctx *Context) {
	if c.Contexts == nil {
		c.Contexts = map[string]*Context{}
	}
	c.Contexts[name] = ctx
	c.Context = name
}

// Current returns the context called name, or the config's current context if name is
// empty, with the name it was found under.
func (c *Config) Current(name string) (*Context, string, error) {
	if name == "" {
		name = c.Context
	}
	if name == "" {
		return nil, "", errors.New("no context selected: run kilnctl gen config, or pass --context NAME")
	}
	ctx, ok := c.Contexts[name]
	if !ok {
		return nil, "", fmt.Errorf("no context %q in the kilnctl config (it has %v): pass --context with one of them", name, c.names())
	}
	return ctx, name, nil
}

func (c *Config) names() []string {
	names := make([]string, 0, len(c.Contexts))
	for n := range c.Contexts {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
