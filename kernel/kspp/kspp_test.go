package kspp

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestEveryRuleHasAReasonAndNonRequiredRulesSayWhy(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range Rules() {
		key := r.Kind.String() + ":" + r.Name
		if seen[key] {
			t.Errorf("%s listed twice", key)
		}
		seen[key] = true
		if r.Reason == "" {
			t.Errorf("%s has no reason", key)
		}
		if r.Status != Required && r.Why == "" {
			t.Errorf("%s is %s without a why", key, r.Status)
		}
		if r.Kind == Kconfig && !strings.HasPrefix(r.Name, "CONFIG_") {
			t.Errorf("%s: Kconfig rule without CONFIG_ prefix", key)
		}
	}
}

func TestCheckConfigNamesTheOptionTurnedOff(t *testing.T) {
	cfg := map[string]string{}
	for _, r := range Of(Kconfig, Required) {
		cfg[r.Name] = r.Value
	}
	if f := Failures(CheckConfig(cfg)); len(f) != 0 {
		t.Fatalf("a config with every rule met fails: %+v", f)
	}
	cfg["CONFIG_SLAB_FREELIST_HARDENED"] = "n"
	delete(cfg, "CONFIG_HARDENED_USERCOPY")
	f := Failures(CheckConfig(cfg))
	if len(f) != 2 || f[0].Name != "CONFIG_SLAB_FREELIST_HARDENED" || f[1].Name != "CONFIG_HARDENED_USERCOPY" {
		t.Fatalf("failures = %+v, want SLAB_FREELIST_HARDENED then HARDENED_USERCOPY", f)
	}
	if f[1].Got != "n" {
		t.Errorf("absent symbol reported as %q, want n", f[1].Got)
	}
}

func TestCheckCmdline(t *testing.T) {
	var params []string
	for _, r := range Of(Cmdline, Required) {
		if r.Value == "" {
			params = append(params, r.Name)
		} else {
			params = append(params, r.Name+"="+r.Value)
		}
	}
	full := strings.Join(params, " ")
	if f := Failures(CheckCmdline("console=ttyS0 " + full)); len(f) != 0 {
		t.Fatalf("complete cmdline fails: %+v", f)
	}
	without := strings.Replace(full, "slab_nomerge", "", 1)
	f := Failures(CheckCmdline(without))
	if len(f) != 1 || f[0].Name != "slab_nomerge" || f[0].Got != "(missing)" {
		t.Fatalf("failures = %+v, want slab_nomerge missing", f)
	}
	// A later parameter overrides an earlier one, as in the kernel.
	f = Failures(CheckCmdline(full + " init_on_free=0"))
	if len(f) != 1 || f[0].Name != "init_on_free" || f[0].Got != "0" {
		t.Fatalf("failures = %+v, want init_on_free=0", f)
	}
}

func TestParseCmdlineQuotes(t *testing.T) {
	p := ParseCmdline(`a=1 b="x y" c  d=`)
	if p["a"] != "1" || p["b"] != "x y" || p["c"] != "" || p["d"] != "" || len(p) != 4 {
		t.Errorf("ParseCmdline = %#v", p)
	}
}

func TestCheckSysctl(t *testing.T) {
	r := Rule{Kind: Sysctl, Name: "kernel.kptr_restrict", Value: "2", Reason: "x"}
	if got := CheckSysctl(r, "2\n"); got.State != "ok" {
		t.Errorf("2 -> %s", got.State)
	}
	if got := CheckSysctl(r, "1\n"); got.State != "fail" {
		t.Errorf("1 -> %s", got.State)
	}
}

func TestReports(t *testing.T) {
	results := CheckConfig(map[string]string{})
	var text, js bytes.Buffer
	if err := WriteText(&text, results); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "fail") || !strings.Contains(text.String(), "CONFIG_SLAB_FREELIST_HARDENED") {
		t.Errorf("text report lacks failures:\n%s", text.String())
	}
	if err := WriteJSON(&js, results); err != nil {
		t.Fatal(err)
	}
	var decoded []map[string]string
	if err := json.Unmarshal(js.Bytes(), &decoded); err != nil || len(decoded) != len(results) {
		t.Fatalf("json report: %v, %d entries", err, len(decoded))
	}
}
