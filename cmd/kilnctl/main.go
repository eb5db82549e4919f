// Command kilnctl operates Kiln nodes through their API (apid on :50000): version,
// services, logs, events, resources, configs, power, upgrade and rollback, PCRs; and generates the machine
// configs and client credentials for a new cluster (gen config, gen cert).
//
// The room: a thin client. It talks to nodes only through api/machine over the client
// package's connection and never imports the node (initd), the servers or the builder.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
)

const usage = `usage: kilnctl [global flags] <command> [flags] [args]

commands:
  version                           the node's version (served in maintenance mode too)
  services                          supervised services and their state
  service start|stop|restart NAME   start, stop (until started again) or restart one
                                    service (operator); apid and watchdogd cannot stop
  logs [-f] [--tail N] [--since S] SERVICE
                                    a service's log; -f follows; S is a duration back
                                    from now (10m) or an RFC 3339 time
  dmesg [-f] [--tail N] [--since S] the kernel log
  processes                         processes: pid, user, state, CPU, RSS, command
  memory                            memory use (/proc/meminfo)
  mounts                            mounts with their options
  disks                             block devices, partitions and GPT labels; BOOT marks
                                    the disk holding the ESP
  netstat                           TCP, UDP and unix sockets with their process
  stats                             memory, CPU time and processes of machined, each
                                    service and each container (cgroup v2)
  containers                        the config's containers: state, image, restarts
  image list                        the images in the node's containerd
  image import [--kubernetes] FILE  store an OCI image layout archive on the node
                                    (operator); it is checked whole before anything is
                                    stored, and containers waiting for it start;
                                    --kubernetes: into the CRI containerd, for pods. A
                                    Kubernetes payload (.sqsh) goes to the payload store
                                    if the node's image pins it
  bootstrap [--recover-from FILE]   start the cluster's etcd on this controlplane (admin,
                                    once per cluster); from an etcd snapshot of a lost
                                    cluster when given
  kubeconfig [PATH|-] [--ttl D] [--force]
                                    an administrator's kubeconfig (admin), to PATH
                                    (default ./kubeconfig, mode 0600) or stdout
  etcd members                      etcd's members, as this controlplane sees them
  etcd snapshot FILE                a snapshot of etcd's database (os:etcd:backup)
  time                              time sync: server, offset measured, error
  ls PATH                           list a directory on the node (operator)
  read PATH                         print a file of the node, at most 1 MiB (operator);
                                    STATE (/system/state), /run/kiln and /dev are refused
  health [--manifest _out/manifest.json]
                                    a checklist: ready, services, time, STATE, Secure
                                    Boot, PCR 11 against the manifest, event log; exits 1
                                    on any failure
  validate -f FILE [--mode metal|container]
                                    check a machine config offline with the node's rules;
                                    every error with its line and path, exit 1
  events [-f] [--tail N]            machined's events (phases, tasks, services)
  get TYPE [ID] [--namespace NS]    one resource, or every resource of TYPE without ID
  list TYPE [--namespace NS]        every resource of TYPE
  watch TYPE [ID] [--namespace NS] [--tail N]
                                    resource changes as they happen
  apply-config -f FILE [--dry-run] [--mode auto|no-reboot|reboot]
                                    validate and apply a machine config ("-" reads stdin)
  patch machineconfig --patch P [--patch P...] [--secrets-from FILE] [--dry-run] [--mode M]
                                    patch the node's config and apply it (modes as
                                    apply-config); P is inline YAML/JSON or @FILE: a list
                                    is an RFC 6902 JSON patch, a mapping a strategic merge
                                    ("$patch: delete" in an interface or route removes it)
  patch machineconfig --file FILE --patch P [--output OUT]
                                    patch a local config (stdout without --output)
  edit machineconfig [--secrets-from FILE] [--dry-run] [--mode M]
                                    $EDITOR on the node's config, validated, then applied;
                                    secrets show (redacted) and --secrets-from (the
                                    controlplane.yaml gen config wrote) puts them back
  install --disk DEV [--wipe] [-f CONFIG | --secrets-from FILE] [--mode M] [--dry-run]
                                    set machine.install and apply: a live node (ISO or
                                    network boot) installs to DEV and reboots from it
  support [--output support.tar.gz]  a bundle for a bug report, a folder per node (-n a,b):
                                    versions, services, resources (redacted), events,
                                    dmesg, every log, processes, memory, mounts, disks,
                                    sockets, health; a section that fails holds its error
  reboot | shutdown                 reboot or power off the node
  reset [--wipe-state] [--wipe-ephemeral] [--reboot]
                                    wipe partitions, then power off (or reboot)
  upgrade --image FILE|URL [--sha256 HEX] [--stage] [--allow-downgrade]
          [--force-pcr-key-change] [--wait] [--wait-timeout 15m]
                                    send a new UKI (1 MiB chunks; an https URL the node
                                    fetches itself, with --sha256); the node verifies it,
                                    writes it and reboots into it unless --stage; --wait
                                    reports the version it came back on and any fallback
  rollback [--wait] [--wait-timeout 15m]
                                    mark the booted UKI bad and reboot into the previous
                                    good one
  pcrs [--bank sha256] [--pcrs 0-11] [--quote] [--ak-fingerprint HEX]
                                    PCR values (banks: comma list or "all"); --quote has
                                    the TPM sign them with a fresh nonce and verifies it
  inspect controllers [-o dot]       machined's controllers with the resource types they
                                    read and write; -o dot prints a Graphviz graph
  gen config --name CLUSTER --endpoint https://HOST:6443 [--out DIR] [--admin-ttl 8760h]
             [--config-patch P] [--config-patch-control-plane P] [--config-patch-worker P]
                                    secrets, controlplane.yaml, worker.yaml, admin context;
                                    patches (repeatable, as for patch) to both or one
  gen cert --role ROLE --cn NAME --ca-from controlplane.yaml [--ttl 8760h] [--merge]
                                    a client certificate as a context (printed, or merged)
  completion bash|zsh|fish          a shell completion script for commands and flags
  COMMAND --help                    the command's usage, an example and the global flags

global flags (before or after the command):
  -n, --nodes ADDR[:port][,ADDR…]   the node (default: the context's nodes, else its first endpoint);
                                    several run the command on each at once, every
                                    output line prefixed with "ADDR: "
  --kiln-config PATH                config file (default $KILNCONFIG, else ~/.kiln/config)
  --context NAME                    context to use (default: the file's current one)
  -o table|json|yaml                output format (default table; dot for inspect)
  --insecure                        maintenance mode: TLS without a client certificate;
                                    prints the node certificate's SHA-256 to compare with
                                    the node console; apply-config refuses to send
                                    secrets (join token, keys) without --fingerprint
  --fingerprint HEX                 maintenance mode, pinning the node certificate instead
  --timeout D                       connect timeout (default 10s)
`

// errUsage marks a usage error: exit code 2.
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil:
	case errors.Is(err, errUsage):
		fmt.Fprintf(os.Stderr, "kilnctl: %v\n\n%s", err, usage)
		os.Exit(2)
	default:
		fmt.Fprintf(os.Stderr, "kilnctl: %v\n", err)
		os.Exit(1)
	}
}

// command runs one subcommand with its arguments (global flags may be among them).
type command func(e *env, args []string) error

// commands is filled in init: completion lists it, which a plain initializer would make a
// cycle.
var commands map[string]command

func init() {
	commands = map[string]command{
		"version":      cmdVersion,
		"services":     cmdServices,
		"service":      cmdService,
		"logs":         cmdLogs,
		"dmesg":        cmdDmesg,
		"events":       cmdEvents,
		"get":          cmdGet,
		"list":         cmdList,
		"watch":        cmdWatch,
		"apply-config": cmdApplyConfig,
		"reboot":       cmdReboot,
		"shutdown":     cmdShutdown,
		"reset":        cmdReset,
		"upgrade":      cmdUpgrade,
		"rollback":     cmdRollback,
		"pcrs":         cmdPCRs,
		"inspect":      cmdInspect,
		"gen":          cmdGen,
		"patch":        cmdPatch,
		"edit":         cmdEdit,
		"processes":    cmdProcesses,
		"memory":       cmdMemory,
		"mounts":       cmdMounts,
		"disks":        cmdDisks,
		"netstat":      cmdNetstat,
		"time":         cmdTime,
		"ls":           cmdLs,
		"read":         cmdRead,
		"health":       cmdHealth,
		"install":      cmdInstall,
		"support":      cmdSupport,
		"completion":   cmdCompletion,
		"validate":     cmdValidate,
		"image":        cmdImage,
		"containers":   cmdContainers,
		"stats":        cmdStats,
		"bootstrap":    cmdBootstrap,
		"kubeconfig":   cmdKubeconfig,
		"etcd":         cmdEtcd,
	}
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	e := &env{ctx: ctx, stdin: stdin, stdout: stdout, stderr: stderr, g: defaultGlobals()}
	fs := e.flagSet("kilnctl")
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, usage)
		return nil
	} else if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() == 0 {
		return fmt.Errorf("%w: no command", errUsage)
	}
	name, rest := fs.Arg(0), fs.Args()[1:]
	if name == "help" {
		fmt.Fprint(stdout, usage)
		return nil
	}
	cmd, ok := commands[name]
	if !ok {
		return fmt.Errorf("%w: unknown command %q", errUsage, name)
	}
	if wantsHelp(rest) {
		printCommandHelp(stdout, name)
		return nil
	}
	// Global flags may follow the command: look for -n in everything. Without -n, the
	// context's nodes (when it lists any) stand in for it.
	if _, _, found := nodesFlag(args); !found && !slices.Contains(localCommands, name) {
		if nodes := e.contextNodes(args); len(nodes) > 0 {
			args = append(slices.Clone(args), "-n", strings.Join(nodes, ","))
			e.g.nodes = strings.Join(nodes, ",")
		}
	}
	if value, _, found := nodesFlag(args); found && strings.Contains(value, ",") && !slices.Contains(localCommands, name) {
		nodes, err := splitNodes(value)
		if err != nil {
			return err
		}
		return runOnNodes(e, name, args, nodes)
	}
	return cmd(e, rest)
}
