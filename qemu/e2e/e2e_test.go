// Package e2e boots the built image (_out/, found through manifest.json) in QEMU and checks
// it from structured signals: the events machined writes to the kiln.events port and QEMU's
// exit. `make qemu-test` runs it (KILN_E2E=1); serial logs stay in _out/qemu-logs/.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/kiln-os/kiln/initd/events"
	"github.com/kiln-os/kiln/kernel/kspp"
	"github.com/kiln-os/kiln/pipeline"
	"github.com/kiln-os/kiln/qemu"
	"github.com/kiln-os/kiln/rootfs/cpio"
)

// Timeouts under TCG: a boot to ready takes tens of seconds; KVM is far faster.
const (
	bootTimeout     = 5 * time.Minute
	shutdownTimeout = 90 * time.Second
)

type image struct {
	out                         string
	manifest                    *pipeline.Manifest
	vmlinuz, initramfs, cmdline string
}

func requireImage(t *testing.T) image {
	t.Helper()
	if os.Getenv("KILN_E2E") == "" {
		t.Skip("boots QEMU: run `make qemu-test` (or set KILN_E2E=1 after `make`)")
	}
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		t.Fatalf("qemu-system-x86_64 not found (install qemu-system-x86: make deps): %v", err)
	}
	out, err := filepath.Abs(filepath.Join("..", "..", "_out"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := pipeline.ReadManifest(out)
	if err != nil {
		t.Fatalf("%v (make qemu-test builds it)", err)
	}
	img := image{out: out, manifest: m, cmdline: m.Cmdline}
	if img.vmlinuz, err = m.Path(out, "vmlinuz"); err != nil {
		t.Fatal(err)
	}
	if img.initramfs, err = m.Path(out, "initramfs"); err != nil {
		t.Fatal(err)
	}
	return img
}

func start(t *testing.T, ctx context.Context, img image, name, cmdline string, extra ...qemu.Option) *qemu.VM {
	t.Helper()
	opts := append([]qemu.Option{
		qemu.WithName(name),
		qemu.WithLogDir(filepath.Join(img.out, "qemu-logs")),
		qemu.WithKernel(img.vmlinuz, img.initramfs, cmdline),
		qemu.WithEvents(),
		qemu.WithMemory(1024),
		qemu.WithExtraArgs("-device", "i6300esb"),
		qemu.WithLogf(t.Logf),
	}, extra...)
	vm, err := qemu.Start(ctx, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(vm.Kill)
	return vm
}

// TestBootReadyAndPowerOff boots to ready, checks the phases, the KSPP state read inside
// the machine and the watchdog service, then presses the power button and expects QEMU to
// exit after a clean shutdown.
func TestBootReadyAndPowerOff(t *testing.T) {
	t.Parallel()
	img := requireImage(t)
	ctx, cancel := context.WithTimeout(context.Background(), bootTimeout+shutdownTimeout)
	defer cancel()
	started := time.Now()
	vm := start(t, ctx, img, "boot-ready", img.cmdline, withConfig(t))
	waitReady(t, ctx, vm)
	readyAt := time.Now()
	// The ready event comes from inside the Ready phase; its done event follows.
	if _, err := waitFor(ctx, vm, 30*time.Second, qemu.Match(events.TypePhase, "Ready", events.StateDone)); err != nil {
		t.Fatal(err)
	}
	checkPhases(t, vm.Events())
	checkKSPPInside(t, vm.Events())
	// Diskless, Storage ends on evidence, not by waiting out its safety bound.
	if e := findEvent(vm.Events(), events.TypeInfo, "state"); e == nil || e.State != "diskless" || !strings.Contains(e.Fields["reason"], "no disk driver is still probing") {
		t.Errorf("diskless STATE event %+v: want the evidence that no disk can appear", e)
	}
	if findEvent(vm.Events(), events.TypeInfo, "watchdog") == nil {
		t.Errorf("machined did not arm the watchdog during the boot")
	}
	if _, err := waitFor(ctx, vm, 30*time.Second, qemu.Match(events.TypeService, "watchdogd", "healthy")); err != nil {
		t.Errorf("watchdogd never healthy: %v", err)
	}
	recordTiming(t, img, vm.Events(), readyAt.Sub(started))

	if err := vm.PowerButton(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := waitFor(ctx, vm, shutdownTimeout, qemu.Match(events.TypeBoot, "machined", events.StateStopped)); err != nil {
		t.Fatalf("no clean shutdown after the power button: %v", err)
	}
	waitCtx, waitCancel := context.WithTimeout(ctx, shutdownTimeout)
	defer waitCancel()
	if err := vm.Wait(waitCtx); err != nil {
		t.Fatalf("QEMU did not exit cleanly after power off: %v\nlog: %s", err, vm.LogPath())
	}
	if err := checkServiceStopped(vm.Events(), "watchdogd"); err != nil {
		t.Error(err)
	}
}

// TestMissingKSPPParameterStopsBoot boots with slab_nomerge removed: the boot must stop in
// EnforceKSPPRequirements with an error naming it, no service may start, and after its
// bounded delay machined reboots (QEMU runs with -no-reboot, so the reboot ends it).
func TestMissingKSPPParameterStopsBoot(t *testing.T) {
	t.Parallel()
	img := requireImage(t)
	cmdline := strings.Join(strings.Fields(strings.Replace(img.cmdline, "slab_nomerge", "", 1)), " ")
	if cmdline == img.cmdline {
		t.Fatalf("manifest cmdline %q has no slab_nomerge to remove", img.cmdline)
	}
	ctx, cancel := context.WithTimeout(context.Background(), bootTimeout)
	defer cancel()
	vm := start(t, ctx, img, "kspp-missing", cmdline, qemu.WithNoReboot())
	e, err := waitFor(ctx, vm, bootTimeout, qemu.Any(
		qemu.Match(events.TypeBoot, "machined", events.StateFailed),
		qemu.Match(events.TypeBoot, "machined", events.StateReady)))
	if err != nil {
		t.Fatal(err)
	}
	if e.State != events.StateFailed {
		t.Fatalf("boot reached %s without slab_nomerge", e.State)
	}
	var phaseFailed bool
	for _, ev := range vm.Events() {
		if ev.Type == events.TypePhase && ev.Name == "EnforceKSPPRequirements" && ev.State == events.StateFailed {
			phaseFailed = true
			if !strings.Contains(ev.Error, "slab_nomerge") {
				t.Errorf("failure %q does not name slab_nomerge", ev.Error)
			}
		}
		if ev.Type == events.TypeService {
			t.Errorf("service event after a failed boot: %+v", ev)
		}
		if ev.Type == events.TypePhase && ev.Name == "StartServices" {
			t.Errorf("StartServices ran: %+v", ev)
		}
	}
	if !phaseFailed {
		t.Errorf("no failed EnforceKSPPRequirements phase event; events:\n%s", dump(vm.Events()))
	}
	if _, err := waitFor(ctx, vm, 2*time.Minute, qemu.Match(events.TypeBoot, "machined", events.StateReboot)); err != nil {
		t.Fatalf("no reboot after the failed boot: %v", err)
	}
	waitCtx, waitCancel := context.WithTimeout(ctx, shutdownTimeout)
	defer waitCancel()
	if err := vm.Wait(waitCtx); err != nil {
		t.Fatalf("QEMU did not exit at the guest's reboot: %v", err)
	}
}

func waitFor(ctx context.Context, vm *qemu.VM, d time.Duration, match func(events.Event) bool) (events.Event, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	return vm.WaitEvent(ctx, match)
}

// waitUntil checks ok every `every` until it holds; after d the test fails, naming what it
// waited for and where the logs are.
func waitUntil(t *testing.T, what, logs string, every, d time.Duration, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(every) {
		if ok() {
			return
		}
	}
	t.Fatalf("%s: not within %s (logs in %s)", what, d, logs)
}

func waitReady(t *testing.T, ctx context.Context, vm *qemu.VM) {
	t.Helper()
	e, err := waitFor(ctx, vm, bootTimeout, qemu.Any(
		qemu.Match(events.TypeBoot, "machined", events.StateReady),
		qemu.Match(events.TypeBoot, "machined", events.StateFailed)))
	if err != nil {
		t.Fatalf("no ready: %v (serial log %s)", err, vm.LogPath())
	}
	if e.State != events.StateReady {
		t.Fatalf("boot failed: %s (serial log %s)", e.Error, vm.LogPath())
	}
}

var bootPhases = []string{"EnforceKSPPRequirements", "EarlyMounts", "WaitForUSB", "Storage", "LockState", "LoadConfig", "Network", "Install", "StartServices", "Ready"}

func checkPhases(t *testing.T, evs []events.Event) {
	t.Helper()
	var done []string
	for _, e := range evs {
		if e.Type == events.TypePhase && e.State == events.StateDone {
			done = append(done, e.Name)
		}
	}
	if strings.Join(done, ",") != strings.Join(bootPhases, ",") {
		t.Errorf("phases done = %v, want %v", done, bootPhases)
	}
}

// checkKSPPInside compares what machined read inside the VM with the rule table.
func checkKSPPInside(t *testing.T, evs []events.Event) {
	t.Helper()
	var sysctls, cmdline map[string]string
	for _, e := range evs {
		switch e.Name {
		case "kspp-sysctls":
			sysctls = e.Fields
		case "kspp-cmdline":
			cmdline = e.Fields
		}
	}
	if sysctls == nil || cmdline == nil {
		t.Fatalf("no kspp-sysctls / kspp-cmdline events")
	}
	for _, r := range kspp.Of(kspp.Sysctl, kspp.Required) {
		if got := sysctls[r.Name]; got != r.Value {
			t.Errorf("inside the VM %s = %q, want %q", r.Name, got, r.Value)
		}
	}
	if f := kspp.Failures(kspp.CheckCmdline(cmdline["cmdline"])); len(f) > 0 {
		t.Errorf("/proc/cmdline inside the VM fails KSPP: %+v", f)
	}
}

func checkServiceStopped(evs []events.Event, name string) error {
	for _, e := range evs {
		if e.Type == events.TypeService && e.Name == name && e.State == events.StateStopped {
			return nil
		}
	}
	return fmt.Errorf("service %s never reported stopped during shutdown", name)
}

// recordTiming writes the boot split (from machined's uptime fields) for docs/benchmarks.md.
func recordTiming(t *testing.T, img image, evs []events.Event, hostToReady time.Duration) {
	var stage1, machined, ready float64
	for _, e := range evs {
		if e.Type != events.TypeBoot {
			continue
		}
		switch e.State {
		case events.StateStarted:
			stage1, _ = strconv.ParseFloat(e.Fields["stage1Uptime"], 64)
			machined, _ = strconv.ParseFloat(e.Fields["machinedUptime"], 64)
		case events.StateReady:
			ready, _ = strconv.ParseFloat(e.Fields["uptime"], 64)
		}
	}
	timing := map[string]float64{
		"qemuStartToReadySeconds":  hostToReady.Seconds(),
		"kernelToInitSeconds":      stage1,
		"initToMachinedSeconds":    machined - stage1,
		"machinedToReadySeconds":   ready - machined,
		"qemuStartToKernelSeconds": hostToReady.Seconds() - ready,
	}
	t.Logf("boot timing: %v", timing)
	data, _ := json.MarshalIndent(timing, "", "  ")
	os.WriteFile(filepath.Join(img.out, "qemu-logs", "boot-timing.json"), data, 0o644)
}

func dump(evs []events.Event) string {
	var b strings.Builder
	for _, e := range evs {
		b.WriteString(e.String() + "\n")
	}
	return b.String()
}

// TestStage1FailureReboots boots an initramfs without /rootfs.sqsh: stage 1 must say why on
// the console and reboot after its delay (QEMU runs with -no-reboot, so the reboot ends it)
// rather than exit and let the kernel panic.
func TestStage1FailureReboots(t *testing.T) {
	t.Parallel()
	img := requireImage(t)
	machined, err := img.manifest.Path(img.out, "machined")
	if err != nil {
		t.Fatal(err)
	}
	broken := filepath.Join(t.TempDir(), "broken.cpio.zst")
	writeInitOnlyInitramfs(t, machined, broken)
	ctx, cancel := context.WithTimeout(context.Background(), bootTimeout)
	defer cancel()
	vm, err := qemu.Start(ctx, qemu.WithName("stage1-broken"), qemu.WithLogDir(filepath.Join(img.out, "qemu-logs")),
		qemu.WithKernel(img.vmlinuz, broken, img.cmdline), qemu.WithMemory(512), qemu.WithNoReboot(), qemu.WithLogf(t.Logf))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(vm.Kill)
	// Stage 1 runs before any event port is open: the console and QEMU's exit are the signals.
	if err := vm.WaitSerial(ctx, "kiln: FATAL: root image"); err != nil {
		t.Fatalf("no FATAL message naming the root image: %v", err)
	}
	if err := vm.Wait(ctx); err != nil {
		t.Fatalf("QEMU did not exit at the guest's reboot: %v", err)
	}
	if strings.Contains(vm.SerialLog(), "Kernel panic") {
		t.Errorf("the kernel panicked (serial %s)", vm.LogPath())
	}
}

func writeInitOnlyInitramfs(t *testing.T, machined, path string) {
	t.Helper()
	init, err := os.ReadFile(machined)
	if err != nil {
		t.Fatal(err)
	}
	var archive bytes.Buffer
	w := cpio.NewWriter(&archive, cpio.Options{ModTime: time.Unix(1, 0)})
	w.AddDir("dev", 0o755)
	w.AddCharDev("dev/console", 0o600, 5, 1)
	w.AddFile("init", 0o755, init)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	enc, _ := zstd.NewWriter(nil)
	if err := os.WriteFile(path, enc.EncodeAll(archive.Bytes(), nil), 0o644); err != nil {
		t.Fatal(err)
	}
}
