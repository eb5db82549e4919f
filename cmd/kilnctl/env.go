package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/kiln-os/kiln/api/machine"
	"github.com/kiln-os/kiln/client"
)

// globals are the flags every command accepts.
type globals struct {
	nodes       string
	kilnConfig  string
	context     string
	output      string
	insecure    bool
	fingerprint string
	timeout     time.Duration
}

func defaultGlobals() *globals {
	return &globals{output: formatTable, timeout: client.DefaultDialTimeout}
}

// env is what a command runs with.
type env struct {
	ctx            context.Context
	g              *globals
	stdin          io.Reader
	stdout, stderr io.Writer
}

// flagSet returns a flag set that already knows the global flags, so they may follow the
// command as well as precede it.
func (e *env) flagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	g := e.g
	for _, n := range []string{"n", "nodes"} {
		fs.StringVar(&g.nodes, n, g.nodes, "node address")
	}
	fs.StringVar(&g.kilnConfig, "kiln-config", g.kilnConfig, "kilnctl config file")
	fs.StringVar(&g.context, "context", g.context, "context name")
	fs.StringVar(&g.output, "o", g.output, "output format")
	fs.BoolVar(&g.insecure, "insecure", g.insecure, "maintenance mode")
	fs.StringVar(&g.fingerprint, "fingerprint", g.fingerprint, "pinned server certificate SHA-256")
	fs.DurationVar(&g.timeout, "timeout", g.timeout, "connect timeout")
	return fs
}

// parseArgs parses flags anywhere among args and returns the positional arguments, which
// must number between min and max.
func parseArgs(fs *flag.FlagSet, args []string, min, max int) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", errUsage, fs.Name(), err)
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
	if len(positional) < min || len(positional) > max {
		return nil, fmt.Errorf("%w: %s takes %s, got %q", errUsage, fs.Name(), argCount(min, max), positional)
	}
	return positional, nil
}

func argCount(min, max int) string {
	switch {
	case min == max:
		return fmt.Sprintf("%d argument(s)", min)
	default:
		return fmt.Sprintf("%d to %d arguments", min, max)
	}
}

// configPath is --kiln-config, else $KILNCONFIG, else ~/.kiln/config.
func (e *env) configPath() (string, error) {
	if e.g.kilnConfig != "" {
		return e.g.kilnConfig, nil
	}
	return client.DefaultConfigPath()
}

// dial connects to the node the flags name, with the selected context's credentials.
func (e *env) dial() (machine.MachineServiceClient, func(), error) {
	if err := e.checkOutput(); err != nil {
		return nil, nil, err
	}
	opts := client.DialOptions{
		Maintenance:   e.g.insecure || e.g.fingerprint != "",
		Fingerprint:   e.g.fingerprint,
		OnFingerprint: e.showFingerprint,
		Timeout:       e.g.timeout,
		Endpoint:      e.g.nodes,
	}
	if strings.Contains(opts.Endpoint, ",") {
		return nil, nil, fmt.Errorf("%w: -n takes one node, got %q", errUsage, opts.Endpoint)
	}
	ctx, err := e.context(opts.Maintenance)
	if err != nil {
		return nil, nil, err
	}
	opts.Context = ctx
	if opts.Endpoint == "" && ctx != nil && len(ctx.Endpoints) > 0 {
		opts.Endpoint = ctx.Endpoints[0]
	}
	if opts.Endpoint == "" {
		return nil, nil, errors.New("no node to talk to: pass -n ADDR, or add endpoints to the context")
	}
	conn, err := client.Dial(e.ctx, opts)
	if err != nil {
		return nil, nil, err
	}
	return machine.NewMachineServiceClient(conn), func() { conn.Close() }, nil
}

// context loads the selected context. In maintenance mode a missing one is no error: the
// node has no cluster credentials yet, so only its address matters.
func (e *env) context(maintenance bool) (*client.Context, error) {
	path, err := e.configPath()
	if err != nil {
		return nil, err
	}
	cfg, err := client.LoadConfig(path)
	if err != nil {
		return nil, err
	}
	ctx, _, err := cfg.Current(e.g.context)
	if err != nil && maintenance {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return ctx, nil
}

func (e *env) showFingerprint(fp string) {
	fmt.Fprintf(e.stderr, "node certificate SHA-256: %s\n", fp)
	fmt.Fprintf(e.stderr, "compare it with the fingerprint on the node's console; pass --fingerprint %s to pin it\n", fp)
}

// streamEnded reports whether err ends a stream cleanly: the server closed it, or the
// operator pressed Ctrl-C.
func (e *env) streamEnded(err error) bool {
	return errors.Is(err, io.EOF) || e.ctx.Err() != nil
}
