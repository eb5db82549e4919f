package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/kiln-os/kiln/initd/events"
	"github.com/kiln-os/kiln/qemu"
)

// hardeningCostRuns is how many boots each variant gets; the figure is their median.
const hardeningCostRuns = 3

// TestHardeningCost measures what two hardening choices of issue 12 (hole 12) cost, by
// direct boots of the built image that differ in one kernel parameter: PAGE_TABLE_CHECK
// (built in and enforced; page_table_check=0 turns it off for the comparison) and
// mitigations=auto,nosmt (against mitigations=auto) on a CPU model the kernel counts as
// affected by SMT leaks, with two threads per core. Boots run one at a time, variants
// interleaved. It is a benchmark, not a check: `make bench` runs it (KILN_BENCH_HARDENING=1)
// and writes _out/qemu-logs/hardening-cost.json into docs/benchmarks.md.
func TestHardeningCost(t *testing.T) {
	if os.Getenv("KILN_BENCH_HARDENING") == "" {
		t.Skip("a benchmark: make bench runs it")
	}
	img := requireImage(t)
	without := func(param string) string {
		return strings.Join(slices.DeleteFunc(strings.Fields(img.cmdline), func(w string) bool { return strings.HasPrefix(w, param+"=") }), " ")
	}
	// An Intel core the kernel treats as affected by MDS and L1TF, two threads per core.
	smt := []string{"-cpu", "Skylake-Client", "-smp", "2,sockets=1,cores=1,threads=2"}
	variants := []struct {
		name, cmdline string
		args          []string
	}{
		{"shipped", img.cmdline, nil},
		{"page_table_check=0", img.cmdline + " page_table_check=0", nil},
		{"smt core, mitigations=auto,nosmt (shipped)", img.cmdline, smt},
		{"smt core, mitigations=auto", without("mitigations") + " mitigations=auto", smt},
	}
	type result struct {
		Seconds        []float64 `json:"kernelToReadySeconds"`
		Median         float64   `json:"medianKernelToReadySeconds"`
		CPUs           string    `json:"cpusBroughtUp"`
		SMTDisabled    bool      `json:"smtDisabled"`
		PageTableCheck bool      `json:"pageTableCheck"`
	}
	results := map[string]*result{}
	for run := 0; run < hardeningCostRuns; run++ {
		for _, v := range variants {
			ctx, cancel := context.WithTimeout(context.Background(), bootTimeout+shutdownTimeout)
			opts := []qemu.Option{withConfig(t)}
			if v.args != nil {
				opts = append(opts, qemu.WithExtraArgs(v.args...))
			}
			vm := start(t, ctx, img, "hardening-cost", v.cmdline, opts...)
			ready, err := waitFor(ctx, vm, bootTimeout, qemu.Match(events.TypeBoot, "machined", events.StateReady))
			if err != nil {
				t.Fatalf("%s: no ready: %v (serial log %s)", v.name, err, vm.LogPath())
			}
			uptime, err := strconv.ParseFloat(ready.Fields["uptime"], 64)
			if err != nil {
				t.Fatalf("%s: ready event uptime %q: %v", v.name, ready.Fields["uptime"], err)
			}
			serial := vm.SerialLog()
			r := results[v.name]
			if r == nil {
				r = &result{}
				results[v.name] = r
			}
			r.Seconds = append(r.Seconds, uptime)
			if m := regexp.MustCompile(`Brought up \d+ nodes?, (\d+) CPUs?`).FindStringSubmatch(serial); m != nil {
				r.CPUs = m[1]
			}
			r.SMTDisabled = strings.Contains(serial, "SMT: disabled")
			r.PageTableCheck = !strings.Contains(v.cmdline, "page_table_check=0")
			vm.Kill()
			cancel()
		}
	}
	for name, r := range results {
		s := slices.Clone(r.Seconds)
		slices.Sort(s)
		r.Median = s[len(s)/2]
		t.Logf("%s: median %.2f s %v, CPUs %s, SMT disabled %v", name, r.Median, r.Seconds, r.CPUs, r.SMTDisabled)
	}
	data, _ := json.MarshalIndent(results, "", "  ")
	if err := os.WriteFile(filepath.Join(img.out, "qemu-logs", "hardening-cost.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
}
