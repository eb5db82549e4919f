package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"testing"
)

// initcallLine is the kernel's initcall_debug report (init/main.c, do_one_initcall):
// "[  t] initcall NAME+0x0/0x40 returned 0 after N usecs".
var initcallLine = regexp.MustCompile(`\[\s*([0-9.]+)\] initcall ([A-Za-z0-9_.]+)\+\S+ returned -?\d+ after (\d+) usecs`)

// runInitLine is where the kernel hands over to /init (init/main.c, run_init_process).
var runInitLine = regexp.MustCompile(`\[\s*([0-9.]+)\] Run /init as init process`)

// initcallTime is one initcall and how long it ran.
type initcallTime struct {
	Name   string  `json:"name"`
	Millis float64 `json:"ms"`
}

// TestInitcalls boots the image once, direct and diskless, with initcall_debug and every
// message on the console, and writes where the kernel's time before /init goes to
// _out/qemu-logs/initcalls.json: the kernel's clock when it runs /init, the sum of all
// initcalls, and the slowest of them. The console output it asks for slows the boot
// itself, so the figures show where the time goes, not how long a normal boot takes. It is
// a benchmark, not a check: `make bench` runs it (KILN_BENCH_INITCALLS=1).
func TestInitcalls(t *testing.T) {
	if os.Getenv("KILN_BENCH_INITCALLS") == "" {
		t.Skip("a benchmark: make bench runs it")
	}
	img := requireImage(t)
	ctx, cancel := context.WithTimeout(context.Background(), bootTimeout)
	defer cancel()
	vm := start(t, ctx, img, "initcalls", img.cmdline+" initcall_debug ignore_loglevel", withConfig(t))
	waitReady(t, ctx, vm)
	vm.Kill()
	serial := vm.SerialLog()
	var calls []initcallTime
	var sum float64
	for _, m := range initcallLine.FindAllStringSubmatch(serial, -1) {
		us, _ := strconv.ParseFloat(m[3], 64)
		calls = append(calls, initcallTime{Name: m[2], Millis: us / 1000})
		sum += us / 1000
	}
	run := runInitLine.FindStringSubmatch(serial)
	if len(calls) == 0 || run == nil {
		t.Fatalf("no initcall_debug lines or no \"Run /init\" line in %s", vm.LogPath())
	}
	atInit, _ := strconv.ParseFloat(run[1], 64)
	slices.SortStableFunc(calls, func(a, b initcallTime) int { return int(b.Millis*1000) - int(a.Millis*1000) })
	data, _ := json.MarshalIndent(map[string]any{
		"kernelClockAtInitSeconds": atInit,
		"initcalls":                len(calls),
		"initcallsMillis":          sum,
		"slowest":                  calls[:min(15, len(calls))],
	}, "", "  ")
	if err := os.WriteFile(filepath.Join(img.out, "qemu-logs", "initcalls.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("kernel clock at /init %.2f s, %d initcalls, %.0f ms in all; slowest %v", atInit, len(calls), sum, calls[:min(5, len(calls))])
}
