package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/kiln-os/kiln/api/machine"
	"github.com/kiln-os/kiln/config"
	"github.com/kiln-os/kiln/internal/atomicfile"
)

// A node hands its config out redacted (the join token and the CA keys read
// "(redacted)"), and ApplyConfiguration takes a whole config: the node keeps no secret it
// is not sent. So patch and edit put the secrets back on the client, from the secrets
// file the operator holds (--secrets-from, the controlplane.yaml that gen config wrote;
// it serves workers too), and check with a dry run that the node sees no change to a
// secret the operator did not change: a secrets file of another cluster is refused
// before anything is applied.

// patchList is a repeatable --patch flag: each value is inline YAML or JSON, or @FILE.
type patchList []string

func (p *patchList) String() string     { return strings.Join(*p, " ") }
func (p *patchList) Set(v string) error { *p = append(*p, v); return nil }

// namedPatch is one patch's bytes and how the operator wrote it, for errors.
type namedPatch struct {
	name string
	data []byte
}

// readPatches reads each --flag value: "@FILE" is a file, anything else the patch itself.
func readPatches(flag string, values []string) ([]namedPatch, error) {
	out := make([]namedPatch, 0, len(values))
	for i, v := range values {
		if file, ok := strings.CutPrefix(v, "@"); ok {
			data, err := os.ReadFile(file)
			if err != nil {
				return nil, fmt.Errorf("--%s %s: %w", flag, v, err)
			}
			out = append(out, namedPatch{name: fmt.Sprintf("--%s %s", flag, v), data: data})
			continue
		}
		if strings.TrimSpace(v) == "" {
			return nil, fmt.Errorf("%w: --%s (number %d) is empty: give a patch inline or @FILE", errUsage, flag, i+1)
		}
		out = append(out, namedPatch{name: fmt.Sprintf("--%s (inline, number %d)", flag, i+1), data: []byte(v)})
	}
	return out, nil
}

// applyPatches applies each patch in order to doc (a list is an RFC 6902 JSON patch, a
// mapping a strategic merge patch) and returns the result, not yet decoded.
func applyPatches(doc []byte, patches []namedPatch) ([]byte, error) {
	for _, p := range patches {
		var err error
		if doc, err = config.ApplyPatch(doc, p.data); err != nil {
			return nil, fmt.Errorf("%s: %w", p.name, err)
		}
	}
	return doc, nil
}

// patchConfig is cfg with patches applied, decoded and validated.
func patchConfig(cfg *config.Config, patches []namedPatch) (*config.Config, error) {
	doc, err := config.Encode(cfg)
	if err != nil {
		return nil, err
	}
	if doc, err = applyPatches(doc, patches); err != nil {
		return nil, err
	}
	out, err := config.Decode(doc)
	if err != nil {
		return nil, fmt.Errorf("the patched config: %w", err)
	}
	if err := out.Validate(); err != nil {
		return nil, fmt.Errorf("the patched config: %w", err)
	}
	return out, nil
}

// onlineFlags are the flags patch and edit share when they talk to a node.
type onlineFlags struct {
	secretsFrom string
	mode        string
	dryRun      bool
}

func (e *env) onlineFlagSet(name string, of *onlineFlags) *flag.FlagSet {
	fs := e.flagSet(name)
	fs.StringVar(&of.secretsFrom, "secrets-from", "", "a config holding the cluster's secrets (the controlplane.yaml gen config wrote); the node sends its own redacted")
	fs.StringVar(&of.mode, "mode", "auto", "auto, no-reboot or reboot, as apply-config")
	fs.BoolVar(&of.dryRun, "dry-run", false, "validate and show the diff; change nothing")
	return fs
}

// currentConfig reads the node's config as the API gives it: redacted.
func (e *env) currentConfig(api machine.MachineServiceClient) (*config.Config, error) {
	res, err := api.ResourceGet(e.ctx, &machine.ResourceGetRequest{Namespace: "config", Type: "MachineConfig", Id: config.Version1Alpha1})
	if err != nil {
		return nil, fmt.Errorf("read the node's machine config: %w", err)
	}
	var spec struct {
		Config *config.Config `json:"config"`
	}
	if err := json.Unmarshal(res.GetSpecJson(), &spec); err != nil || spec.Config == nil {
		return nil, fmt.Errorf("the node's MachineConfig resource holds no config kilnctl can read (%v)", err)
	}
	return spec.Config, nil
}

// unredact fills cfg's redacted secrets from the --secrets-from file and returns the
// paths it filled.
func unredact(cfg *config.Config, secretsFrom string) ([]string, error) {
	secrets := new(config.Config)
	if secretsFrom != "" {
		var err error
		if secrets, err = config.Load(secretsFrom); err != nil {
			return nil, fmt.Errorf("--secrets-from: %w", err)
		}
	}
	filled, err := config.Unredact(cfg, secrets)
	switch {
	case err != nil && secretsFrom == "":
		return nil, fmt.Errorf("the node sends its config with the secrets redacted, and a config is applied whole: pass --secrets-from controlplane.yaml (the file kilnctl gen config wrote) so kilnctl can put them back (%w)", err)
	case err != nil:
		return nil, fmt.Errorf("--secrets-from %s: %w", secretsFrom, err)
	}
	return filled, nil
}

// applyWhole sends cfg with the secrets filled from the secrets file. When any were
// filled, a dry run first checks that the node sees none of them change: a change there
// means the file is not this cluster's, and nothing is applied.
func (e *env) applyWhole(api machine.MachineServiceClient, cfg *config.Config, filled []string, of onlineFlags) error {
	mode, ok := applyModes[of.mode]
	if !ok {
		return fmt.Errorf("%w: --mode %q: want auto, no-reboot or reboot", errUsage, of.mode)
	}
	data, err := config.Encode(cfg)
	if err != nil {
		return err
	}
	if err := e.checkPinned(data, true); err != nil {
		return err
	}
	req := &machine.ApplyConfigurationRequest{Data: data, DryRun: true, Mode: mode}
	resp, err := api.ApplyConfiguration(e.ctx, req)
	if err != nil {
		return err
	}
	if err := secretsUnchanged(resp, filled, of.secretsFrom); err != nil {
		return err
	}
	if !of.dryRun {
		req.DryRun = false
		if resp, err = api.ApplyConfiguration(e.ctx, req); err != nil {
			return err
		}
	}
	if e.structured() {
		return e.printMessage(resp)
	}
	e.printApplied(resp)
	return nil
}

// errSecretsDiffer marks a secrets file that is not the node's cluster's.
var errSecretsDiffer = errors.New("the secrets file does not hold this node's secrets")

func secretsUnchanged(resp *machine.ApplyConfigurationResponse, filled []string, file string) error {
	var differ []string
	for _, c := range resp.GetChanges() {
		for _, path := range filled {
			if c.GetPath() == path {
				differ = append(differ, path)
			}
		}
	}
	if len(differ) == 0 {
		return nil
	}
	return fmt.Errorf("%w: the node's %s differ from %s's; pass the secrets file this cluster was generated with (nothing was applied)",
		errSecretsDiffer, strings.Join(differ, ", "), file)
}

// cmdPatch runs "patch machineconfig": patches the node's config and applies it, or with
// --file patches a local config and writes the result.
func cmdPatch(e *env, args []string) error {
	var of onlineFlags
	var patches patchList
	fs := e.onlineFlagSet("patch", &of)
	fs.Var(&patches, "patch", "a patch, inline or @FILE (repeatable): a list is an RFC 6902 JSON patch, a mapping a strategic merge patch")
	file := fs.String("file", "", "patch this local config instead of the node's")
	output := fs.String("output", "", "with --file: write the patched config here (default stdout)")
	if _, err := machineConfigArg("patch", args); err != nil {
		return err
	}
	if _, err := parseArgs(fs, args[1:], 0, 0); err != nil {
		return err
	}
	if len(patches) == 0 {
		return fmt.Errorf("%w: patch machineconfig needs --patch (inline YAML or JSON, or @FILE)", errUsage)
	}
	named, err := readPatches("patch", patches)
	if err != nil {
		return err
	}
	if *file != "" {
		return e.patchFile(fs, *file, *output, named)
	}
	if *output != "" {
		return fmt.Errorf("%w: --output is for --file; a node's config is applied, not written", errUsage)
	}
	return e.patchNode(named, of)
}

// patchNode patches the node's own config and applies it whole, the secrets put back from
// --secrets-from.
func (e *env) patchNode(patches []namedPatch, of onlineFlags) error {
	api, done, err := e.dial()
	if err != nil {
		return err
	}
	defer done()
	current, err := e.currentConfig(api)
	if err != nil {
		return err
	}
	patched, filled, err := patchRedacted(current, patches, of.secretsFrom)
	if err != nil {
		return err
	}
	return e.applyWhole(api, patched, filled, of)
}

// machineConfigArg checks that the command names the one thing it works on.
func machineConfigArg(cmd string, args []string) (string, error) {
	if len(args) == 0 || args[0] != "machineconfig" && args[0] != "mc" {
		return "", fmt.Errorf("%w: %s works on machineconfig (or mc): kilnctl %s machineconfig ...", errUsage, cmd, cmd)
	}
	return args[0], nil
}

// patchRedacted patches the node's redacted config, then fills the secrets back in and
// validates: a patch may thus name a secret's path (to change it) without the file.
func patchRedacted(current *config.Config, patches []namedPatch, secretsFrom string) (*config.Config, []string, error) {
	doc, err := config.Encode(current)
	if err != nil {
		return nil, nil, err
	}
	if doc, err = applyPatches(doc, patches); err != nil {
		return nil, nil, err
	}
	return completeConfig(doc, secretsFrom, "the patched config")
}

// completeConfig decodes an edited or patched redacted config, puts the secrets back and
// validates the whole.
func completeConfig(doc []byte, secretsFrom, what string) (*config.Config, []string, error) {
	cfg, err := config.Decode(doc)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", what, err)
	}
	filled, err := unredact(cfg, secretsFrom)
	if err != nil {
		return nil, nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", what, err)
	}
	return cfg, filled, nil
}

// patchFile patches a local config file and writes the validated result.
func (e *env) patchFile(fs *flag.FlagSet, file, output string, patches []namedPatch) error {
	var nodeOnly []string
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "mode" || f.Name == "dry-run" || f.Name == "secrets-from" {
			nodeOnly = append(nodeOnly, "--"+f.Name)
		}
	})
	if len(nodeOnly) > 0 {
		return fmt.Errorf("%w: %s apply to a node's config; --file patches a local one", errUsage, strings.Join(nodeOnly, ", "))
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	// The file's own bytes are patched, so that its comments and order survive.
	if data, err = applyPatches(data, patches); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	patched, err := config.Decode(data)
	if err == nil {
		err = patched.Validate()
	}
	if err != nil {
		return fmt.Errorf("%s patched: %w", file, err)
	}
	if output != "" {
		return atomicfile.Write(output, data, 0o600) // it may hold the cluster's keys
	}
	_, err = e.stdout.Write(data)
	return err
}
