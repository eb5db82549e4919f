package kernel

import (
	"path/filepath"
	"testing"

	"github.com/kiln-os/kiln/kernel/kspp"
)

// The hardening fragments and the KSPP table must agree: every required Kconfig rule is
// asked for by a fragment with the same value. (The resolved config is checked against the
// same rules in TestResolvedConfigPassesKSPP.)
func TestFragmentsCarryEveryRequiredKconfigRule(t *testing.T) {
	frags, err := ReadFragments(filepath.Join("config"))
	if err != nil {
		t.Fatal(err)
	}
	merged := Merge(frags)
	for _, r := range kspp.Of(kspp.Kconfig, kspp.Required) {
		if got := merged.Get(r.Name); got != r.Value {
			t.Errorf("%s: KSPP table wants %s, fragments ask for %s", r.Name, r.Value, got)
		}
	}
}

func TestResolvedConfigPassesKSPP(t *testing.T) {
	cfg, err := ReadConfig(filepath.Join("config", "resolved-x86_64.config"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range kspp.Failures(kspp.CheckConfig(cfg)) {
		t.Errorf("%s: want %s, got %s", f.Name, f.Value, f.Got)
	}
}

// Every requested symbol of the fragments survives in the checked-in resolved config.
func TestResolvedConfigKeepsEveryRequestedSymbol(t *testing.T) {
	frags, err := ReadFragments("config")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ReadConfig(filepath.Join("config", "resolved-x86_64.config"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range Verify(Merge(frags), cfg) {
		t.Errorf("%s: want %s, got %s", m.Symbol, m.Want, m.Got)
	}
}
