package main

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/kiln-os/kiln/client"
	"github.com/kiln-os/kiln/config"
)

// defaultCertTTL is a year: long enough not to surprise, short enough to rotate.
const defaultCertTTL = 8760 * time.Hour

// cmdGen runs "gen config" and "gen cert".
func cmdGen(e *env, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: gen needs config or cert", errUsage)
	}
	switch args[0] {
	case "config":
		return cmdGenConfig(e, args[1:])
	case "cert":
		return cmdGenCert(e, args[1:])
	}
	return fmt.Errorf("%w: gen %q: want config or cert", errUsage, args[0])
}

type genConfigFlags struct {
	name, endpoint, out, installDisk string
	adminTTL                         time.Duration
	force, kubernetes                bool
	patches                          configPatchFlags
}

func cmdGenConfig(e *env, args []string) error {
	var f genConfigFlags
	fs := e.flagSet("gen config")
	fs.StringVar(&f.name, "name", config.DefaultClusterName, "cluster name; also the context's name")
	fs.StringVar(&f.endpoint, "endpoint", "", "Kubernetes API URL, https://HOST:6443")
	fs.StringVar(&f.out, "out", ".", "directory for controlplane.yaml and worker.yaml")
	fs.StringVar(&f.installDisk, "install-disk", "", "disk the installer writes Kiln to (e.g. /dev/vda)")
	fs.DurationVar(&f.adminTTL, "admin-ttl", defaultCertTTL, "lifetime of the admin client certificate")
	fs.BoolVar(&f.force, "force", false, "overwrite existing machine configs")
	fs.BoolVar(&f.kubernetes, "kubernetes", true, "generate the Kubernetes secrets (bootstrap token, etcd CA, service account key, secretbox key): the nodes run Kubernetes")
	f.patches.register(fs)
	if _, err := parseArgs(fs, args, 0, 0); err != nil {
		return err
	}
	host, err := endpointHost(f.endpoint)
	if err != nil {
		return err
	}
	controlplane, worker, err := generateConfigs(f, time.Now())
	if err != nil {
		return err
	}
	if controlplane, worker, err = f.patches.apply(controlplane, worker); err != nil {
		return err
	}
	if err := writeConfigs(f, controlplane, worker); err != nil {
		return err
	}
	ctx, err := issueContext(controlplane, f.name, config.RoleAdmin, f.adminTTL, []string{host})
	if err != nil {
		return err
	}
	path, err := e.mergeContext(f.name, ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "wrote %s and %s\ncontext %q (os:admin, node %s) is now current in %s\n",
		filepath.Join(f.out, "controlplane.yaml"), filepath.Join(f.out, "worker.yaml"), f.name, host, path)
	return nil
}

// endpointHost is the host of the Kubernetes API URL: the control plane node, whose
// apid the admin context talks to.
func endpointHost(endpoint string) (string, error) {
	u, err := url.Parse(endpoint)
	if endpoint == "" || err != nil || u.Scheme != "https" || u.Hostname() == "" {
		return "", fmt.Errorf("%w: --endpoint %q: want the Kubernetes API URL, https://HOST:6443", errUsage, endpoint)
	}
	return u.Hostname(), nil
}

func generateConfigs(f genConfigFlags, now time.Time) (controlplane, worker *config.Config, err error) {
	secrets, err := config.GenerateSecrets(now)
	if err != nil {
		return nil, nil, err
	}
	if f.kubernetes {
		if secrets.Kubernetes, err = config.GenerateKubernetesSecrets(now); err != nil {
			return nil, nil, err
		}
	}
	return config.Generate(config.GenerateInput{
		Secrets:     secrets,
		ClusterName: f.name,
		Endpoint:    f.endpoint,
		InstallDisk: f.installDisk,
	})
}

// writeConfigs refuses to overwrite a config without --force: it holds the cluster's CA
// keys, and a new one would orphan every node already running with the old.
func writeConfigs(f genConfigFlags, controlplane, worker *config.Config) error {
	files := map[string]*config.Config{"controlplane.yaml": controlplane, "worker.yaml": worker}
	for _, name := range []string{"controlplane.yaml", "worker.yaml"} {
		path := filepath.Join(f.out, name)
		if _, err := os.Stat(path); err == nil && !f.force {
			return fmt.Errorf("%s exists: it holds a cluster's CA keys; pass --force to replace it, or choose another --out", path)
		} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		if err := config.Save(path, files[name]); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	return nil
}

// issueContext signs a client certificate for cn with role by the config's OS CA.
func issueContext(cfg *config.Config, cn, role string, ttl time.Duration, endpoints []string) (*client.Context, error) {
	if cfg.Machine.CA.Key == "" {
		return nil, errors.New("the machine config has no OS CA key (a worker config?): use the controlplane config")
	}
	crt, key, err := config.IssueClientCert(cfg.Machine.CA, cn, []string{role}, ttl, time.Now())
	if err != nil {
		return nil, err
	}
	return &client.Context{Endpoints: endpoints, CA: cfg.Machine.CA.Crt, Crt: string(crt), Key: string(key)}, nil
}

// mergeContext adds ctx to the kilnctl config file and makes it current.
func (e *env) mergeContext(name string, ctx *client.Context) (string, error) {
	path, err := e.configPath()
	if err != nil {
		return "", err
	}
	kc, err := client.LoadConfig(path)
	if err != nil {
		return "", err
	}
	kc.Merge(name, ctx)
	return path, kc.Save(path)
}

var roles = map[string]bool{config.RoleAdmin: true, config.RoleOperator: true, config.RoleReader: true}

func cmdGenCert(e *env, args []string) error {
	fs := e.flagSet("gen cert")
	role := fs.String("role", config.RoleReader, "os:reader, os:operator or os:admin")
	cn := fs.String("cn", "", "the certificate's common name (who holds it)")
	ttl := fs.Duration("ttl", defaultCertTTL, "lifetime")
	caFrom := fs.String("ca-from", "controlplane.yaml", "controlplane machine config holding the OS CA key")
	name := fs.String("name", "", "context name (default: the common name)")
	merge := fs.Bool("merge", false, "merge the context into the kilnctl config instead of printing it")
	if _, err := parseArgs(fs, args, 0, 0); err != nil {
		return err
	}
	if !roles[*role] || *cn == "" {
		return fmt.Errorf("%w: gen cert needs --cn NAME and --role os:reader, os:operator or os:admin", errUsage)
	}
	if *name == "" {
		*name = *cn
	}
	cfg, err := config.Load(*caFrom)
	if err != nil {
		return err
	}
	host, err := endpointHost(cfg.Cluster.ControlPlane.Endpoint)
	if err != nil {
		return fmt.Errorf("%s: %w", *caFrom, err)
	}
	ctx, err := issueContext(cfg, *cn, *role, *ttl, []string{host})
	if err != nil {
		return fmt.Errorf("%s: %w", *caFrom, err)
	}
	if *merge {
		path, err := e.mergeContext(*name, ctx)
		if err == nil {
			fmt.Fprintf(e.stdout, "context %q (%s) is now current in %s\n", *name, *role, path)
		}
		return err
	}
	return printContext(e, *name, ctx)
}

// printContext prints a kilnctl config holding ctx alone, for --kiln-config or a merge
// by hand.
func printContext(e *env, name string, ctx *client.Context) error {
	kc := &client.Config{}
	kc.Merge(name, ctx)
	data, err := yaml.Marshal(kc)
	if err != nil {
		return err
	}
	_, err = e.stdout.Write(data)
	return err
}
