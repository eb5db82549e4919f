package main

import (
	"strings"
	"testing"
)

// A reader may inspect the controllers; the table names inputs and outputs.
func TestInspectControllersTable(t *testing.T) {
	_, kc := configuredNode(t, "os:reader")
	r := runCtl(t, "--kiln-config", kc, "inspect", "controllers")
	if r.err != nil {
		t.Fatal(r.err)
	}
	want := "CONTROLLER        INPUTS                OUTPUTS\nSysctlController  config/MachineConfig  runtime/SysctlStatus\n"
	if r.stdout != want {
		t.Errorf("table:\n%s\nwant:\n%s", r.stdout, want)
	}
}

func TestInspectControllersDot(t *testing.T) {
	_, kc := configuredNode(t, "os:reader")
	r := runCtl(t, "--kiln-config", kc, "inspect", "controllers", "-o", "dot")
	if r.err != nil {
		t.Fatal(r.err)
	}
	for _, line := range []string{"digraph controllers {", `"SysctlController" [shape=box];`,
		`"config/MachineConfig" -> "SysctlController";`, `"SysctlController" -> "runtime/SysctlStatus";`} {
		if !strings.Contains(r.stdout, line) {
			t.Errorf("dot lacks %q:\n%s", line, r.stdout)
		}
	}
	if r := runCtl(t, "--kiln-config", kc, "services", "-o", "dot"); r.err == nil {
		t.Error("-o dot accepted outside inspect")
	}
	if r := runCtl(t, "--kiln-config", kc, "inspect", "graphs"); r.err == nil {
		t.Error("inspect graphs accepted")
	}
}
