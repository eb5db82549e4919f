package main

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/kiln-os/kiln/internal/oracle"
)

// Every command has its usage entry and an example, and COMMAND --help prints them
// (exit 0) without running the command.
func TestEveryCommandHasHelp(t *testing.T) {
	entries := usageEntries()
	for name := range commands {
		if len(entries[name]) == 0 {
			t.Errorf("%s has no entry in usage", name)
		}
		if examples[name] == "" {
			t.Errorf("%s has no example", name)
		}
		r := runCtl(t, name, "--help")
		if r.err != nil || !strings.Contains(r.stdout, "example:\n  "+examples[name]) || !strings.Contains(r.stdout, "global flags") {
			t.Errorf("%s --help: %v\n%s", name, r.err, r.stdout)
		}
	}
	for name := range examples {
		if commands[name] == nil {
			t.Errorf("example for %s, which is no command", name)
		}
	}
}

// The bash script parses (bash -n) and, sourced, completes a command name and, after
// global flags with values, that command's flags.
func TestCompletion(t *testing.T) {
	oracle.Require(t, "bash", "bash")
	r := runCtl(t, "completion", "bash")
	if r.err != nil {
		t.Fatal(r.err)
	}
	if out, err := exec.Command("bash", "-n", "-c", r.stdout).CombinedOutput(); err != nil {
		t.Fatalf("bash -n: %v\n%s", err, out)
	}
	complete := func(words ...string) string {
		script := r.stdout + "\nCOMP_WORDS=(" + strings.Join(words, " ") + ")\nCOMP_CWORD=" + strconv.Itoa(len(words)-1) + "\n_kilnctl\necho \"${COMPREPLY[*]}\"\n"
		out, err := exec.Command("bash", "-c", script).CombinedOutput()
		if err != nil {
			t.Fatalf("completing %q: %v\n%s", words, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if got := complete("kilnctl", "ins"); got != "inspect install" {
		t.Errorf("kilnctl ins<TAB> = %q", got)
	}
	if got := complete("kilnctl", "-n", "10.0.0.5", "install", "--w"); got != "--wipe" {
		t.Errorf("kilnctl -n X install --w<TAB> = %q", got)
	}
	for _, shell := range []string{"zsh", "fish"} {
		if r := runCtl(t, "completion", shell); r.err != nil || !strings.Contains(r.stdout, "kilnctl") {
			t.Errorf("completion %s: %v\n%s", shell, r.err, r.stdout)
		}
	}
	if r := runCtl(t, "completion", "tcsh"); r.err == nil || !strings.Contains(r.err.Error(), "bash, zsh or fish") {
		t.Errorf("completion tcsh: %v", r.err)
	}
}
