package main

import (
	"fmt"
	"io"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// examples is one example per command, shown by `kilnctl COMMAND --help`.
var examples = map[string]string{
	"version":      "kilnctl -n 10.0.0.5 version",
	"services":     "kilnctl -n 10.0.0.5 services -o json",
	"service":      "kilnctl -n 10.0.0.5 service restart trustd",
	"logs":         "kilnctl -n 10.0.0.5 logs apid --since 10m -f",
	"dmesg":        "kilnctl -n 10.0.0.5 dmesg --tail 50",
	"processes":    "kilnctl -n 10.0.0.5 processes -o json",
	"memory":       "kilnctl -n 10.0.0.5 memory",
	"stats":        "kilnctl -n 10.0.0.5 stats",
	"bootstrap":    "kilnctl -n 10.0.0.5 bootstrap",
	"kubeconfig":   "kilnctl -n 10.0.0.5 kubeconfig ~/.kube/config",
	"etcd":         "kilnctl -n 10.0.0.5 etcd snapshot etcd.db",
	"containers":   "kilnctl -n 10.0.0.5 containers -o yaml",
	"image":        "kilnctl -n 10.0.0.5 image import hello.tar",
	"mounts":       "kilnctl -n 10.0.0.5 mounts",
	"disks":        "kilnctl -n 10.0.0.5 disks",
	"netstat":      "kilnctl -n 10.0.0.5 netstat",
	"time":         "kilnctl -n 10.0.0.5 time",
	"ls":           "kilnctl -n 10.0.0.5 ls /var/log",
	"read":         "kilnctl -n 10.0.0.5 read /proc/cmdline",
	"health":       "kilnctl -n 10.0.0.5,10.0.0.6 health --manifest _out/manifest.json",
	"validate":     "kilnctl validate -f controlplane.yaml",
	"events":       "kilnctl -n 10.0.0.5 events --tail 20",
	"get":          "kilnctl -n 10.0.0.5 get bootstatus -o yaml",
	"list":         "kilnctl -n 10.0.0.5 list addressstatus",
	"watch":        "kilnctl -n 10.0.0.5 watch machinestatus",
	"apply-config": "kilnctl -n 10.0.0.5 apply-config -f controlplane.yaml --dry-run",
	"patch":        `kilnctl -n 10.0.0.5 patch machineconfig --patch '{"machine":{"network":{"hostname":"node-1"}}}' --secrets-from controlplane.yaml`,
	"edit":         "kilnctl -n 10.0.0.5 edit machineconfig --secrets-from controlplane.yaml",
	"install":      "kilnctl -n 10.0.0.5 --fingerprint HEX install --disk /dev/vda -f controlplane.yaml",
	"support":      "kilnctl -n 10.0.0.5,10.0.0.6 support --output support.tar.gz",
	"reboot":       "kilnctl -n 10.0.0.5 reboot",
	"shutdown":     "kilnctl -n 10.0.0.5 shutdown",
	"reset":        "kilnctl -n 10.0.0.5 reset --wipe-state --reboot",
	"upgrade":      "kilnctl -n 10.0.0.5 upgrade --image _out/kiln-0.2.0.efi --wait",
	"rollback":     "kilnctl -n 10.0.0.5 rollback --wait",
	"pcrs":         "kilnctl -n 10.0.0.5 pcrs --quote",
	"inspect":      "kilnctl -n 10.0.0.5 inspect controllers -o dot | dot -Tsvg > controllers.svg",
	"gen":          "kilnctl gen config --name lab --endpoint https://10.0.0.5:6443 --out lab/",
	"completion":   "source <(kilnctl completion bash)",
}

// usageEntries are the command entries of usage: each first line (two spaces, then the
// command) with its continuation lines.
func usageEntries() map[string][]string {
	entries := map[string][]string{}
	section := strings.SplitN(usage, "\ncommands:\n", 2)[1]
	section = strings.SplitN(section, "\n\nglobal flags", 2)[0]
	var names []string
	for _, line := range strings.Split(section, "\n") {
		if strings.HasPrefix(line, "  ") && !strings.HasPrefix(line, "   ") {
			f := strings.Fields(line)
			names = f[:1]
			if len(f) > 2 && f[1] == "|" { // "reboot | shutdown": one entry for both
				names = append(names, f[2])
			}
		}
		for _, name := range names {
			entries[name] = append(entries[name], line)
		}
	}
	return entries
}

// globalFlagsHelp is usage's global flags section.
func globalFlagsHelp() string {
	return "global flags" + strings.SplitN(usage, "\n\nglobal flags", 2)[1]
}

// printCommandHelp writes name's entry of usage, its example and the global flags.
func printCommandHelp(w io.Writer, name string) {
	fmt.Fprintf(w, "usage: kilnctl [global flags] %s\n\n%s\n", name, strings.Join(usageEntries()[name], "\n"))
	if ex := examples[name]; ex != "" {
		fmt.Fprintf(w, "\nexample:\n  %s\n", ex)
	}
	fmt.Fprintf(w, "\n%s", globalFlagsHelp())
}

// wantsHelp reports whether args (after the command) ask for help.
func wantsHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "-help", "--help":
			return true
		}
	}
	return false
}

// valueFlags are the global flags that take a value in the next word: completion skips
// it when it looks for the command.
var valueFlags = []string{"-n", "--nodes", "-nodes", "--kiln-config", "-kiln-config", "--context", "-context", "-o", "--fingerprint", "-fingerprint", "--timeout", "-timeout"}

// flagWord matches a flag in usage's text.
var flagWord = regexp.MustCompile(`(^|[\s\[|])(--?[a-z][a-z0-9-]*)`)

// commandFlags are the flags usage names for each command, and globalFlags those of the
// global flags section: what completion offers.
func commandFlags() (perCommand map[string][]string, global []string) {
	perCommand = map[string][]string{}
	for name, lines := range usageEntries() {
		perCommand[name] = flagsIn(strings.Join(lines, "\n"))
	}
	return perCommand, flagsIn(globalFlagsHelp())
}

func flagsIn(text string) []string {
	var flags []string
	for _, m := range flagWord.FindAllStringSubmatch(text, -1) {
		if !slices.Contains(flags, m[2]) {
			flags = append(flags, m[2])
		}
	}
	sort.Strings(flags)
	return flags
}

// cmdCompletion runs "completion bash|zsh|fish": a script that completes commands and
// their flags. zsh runs the bash one through bashcompinit.
func cmdCompletion(e *env, args []string) error {
	pos, err := parseArgs(e.flagSet("completion"), args, 1, 1)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	perCommand, global := commandFlags()
	switch pos[0] {
	case "bash":
		writeBash(e.stdout, names, perCommand, global)
	case "zsh":
		fmt.Fprintln(e.stdout, "# kilnctl completion for zsh: the bash completion, through bashcompinit")
		fmt.Fprintln(e.stdout, "autoload -U +X bashcompinit && bashcompinit")
		writeBash(e.stdout, names, perCommand, global)
	case "fish":
		writeFish(e.stdout, names, perCommand, global)
	default:
		return fmt.Errorf("%w: completion takes bash, zsh or fish, got %q", errUsage, pos[0])
	}
	return nil
}

func writeBash(w io.Writer, names []string, perCommand map[string][]string, global []string) {
	fmt.Fprintln(w, "# kilnctl completion for bash: source <(kilnctl completion bash)")
	fmt.Fprintln(w, "_kilnctl() {")
	fmt.Fprintln(w, `	local cur="${COMP_WORDS[COMP_CWORD]}" cmd="" w skip=""`)
	fmt.Fprintln(w, `	for w in "${COMP_WORDS[@]:1:COMP_CWORD-1}"; do`)
	fmt.Fprintln(w, `		if [[ -n "$skip" ]]; then skip=""; continue; fi`)
	fmt.Fprintln(w, `		case "$w" in`)
	fmt.Fprintln(w, `		`+strings.Join(valueFlags, "|")+`) skip=1 ;;`)
	fmt.Fprintln(w, `		-*) ;;`)
	fmt.Fprintln(w, `		*) cmd="$w"; break ;;`)
	fmt.Fprintln(w, `		esac`)
	fmt.Fprintln(w, `	done`)
	fmt.Fprintln(w, `	local flags="`+strings.Join(global, " ")+`"`)
	fmt.Fprintln(w, `	case "$cmd" in`)
	for _, n := range names {
		fmt.Fprintf(w, "\t%s) flags=\"$flags %s\" ;;\n", n, strings.Join(perCommand[n], " "))
	}
	fmt.Fprintln(w, `	esac`)
	fmt.Fprintln(w, `	if [[ -z "$cmd" && "$cur" != -* ]]; then`)
	fmt.Fprintln(w, `		COMPREPLY=($(compgen -W "`+strings.Join(names, " ")+`" -- "$cur"))`)
	fmt.Fprintln(w, `	else`)
	fmt.Fprintln(w, `		COMPREPLY=($(compgen -W "$flags" -- "$cur"))`)
	fmt.Fprintln(w, `	fi`)
	fmt.Fprintln(w, "}")
	fmt.Fprintln(w, "complete -o default -F _kilnctl kilnctl")
}

func writeFish(w io.Writer, names []string, perCommand map[string][]string, global []string) {
	fmt.Fprintln(w, "# kilnctl completion for fish: kilnctl completion fish | source")
	fmt.Fprintf(w, "complete -c kilnctl -f -n __fish_use_subcommand -a '%s'\n", strings.Join(names, " "))
	for _, f := range global {
		fmt.Fprintf(w, "complete -c kilnctl %s\n", fishFlag(f))
	}
	for _, n := range names {
		for _, f := range perCommand[n] {
			fmt.Fprintf(w, "complete -c kilnctl -n '__fish_seen_subcommand_from %s' %s\n", n, fishFlag(f))
		}
	}
}

// fishFlag is complete's option for a flag: -l for --long, -o for Go's single-dash -x.
func fishFlag(f string) string {
	if name, ok := strings.CutPrefix(f, "--"); ok {
		return "-l " + name
	}
	return "-o " + strings.TrimPrefix(f, "-")
}
