package qemu

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kiln-os/kiln/internal/oracle"
)

// These tests start the real qemu-system-x86_64, without a kernel: SeaBIOS finds nothing
// to boot and idles, which is enough to exercise start-up, QMP, exit and cleanup. They run
// under TCG so that they do not depend on (or wait for) the KVM probe.

const (
	ovmfCode = "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd"
	ovmfVars = "/usr/share/OVMF/OVMF_VARS_4M.fd"
)

func needQEMU(t *testing.T) {
	t.Helper()
	oracle.Require(t, defaultBinary, "qemu-system-x86")
}

func requireOVMF(t *testing.T) {
	t.Helper()
	oracle.RequireFile(t, ovmfCode, "ovmf")
	oracle.RequireFile(t, ovmfVars, "ovmf")
}

// startTestVM starts a small TCG VM logging to a temp dir, killed at cleanup, and checks
// at cleanup that nothing it started is left.
func startTestVM(t *testing.T, ctx context.Context, opts ...Option) *VM {
	t.Helper()
	needQEMU(t)
	opts = append([]Option{WithAccel("tcg"), WithMemory(128), WithCPUs(1),
		WithLogDir(t.TempDir()), WithName(t.Name()), WithLogf(t.Logf)}, opts...)
	vm, err := Start(ctx, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		vm.Kill()
		assertGone(t, vm)
	})
	return vm
}

// assertGone checks that QEMU and swtpm were reaped, no child process of the test is left, and the
// socket folder was removed.
func assertGone(t *testing.T, vm *VM) {
	t.Helper()
	if err := syscall.Kill(vm.Pid(), 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("qemu pid %d still exists (kill 0: %v)", vm.Pid(), err)
	}
	if vm.tpm != nil && vm.tpm.cmd.Process != nil {
		if err := syscall.Kill(vm.tpm.cmd.Process.Pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("swtpm pid %d still exists (kill 0: %v)", vm.tpm.cmd.Process.Pid, err)
		}
	}
	if kids := childProcesses(t); len(kids) > 0 {
		t.Errorf("child processes left: %v", kids)
	}
	if _, err := os.Stat(vm.runDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket folder %s not removed: %v", vm.runDir, err)
	}
}

// childProcesses lists "pid comm" for every process whose parent is this test binary.
func childProcesses(t *testing.T) []string {
	t.Helper()
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	me := strconv.Itoa(os.Getpid())
	var kids []string
	for _, d := range dirs {
		status, err := os.ReadFile(filepath.Join("/proc", d.Name(), "status"))
		if err != nil {
			continue
		}
		if procField(status, "PPid") == me {
			kids = append(kids, d.Name()+" "+procField(status, "Name"))
		}
	}
	return kids
}

func procField(status []byte, key string) string {
	for _, l := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(l, key+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func vmCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestVMStartQuit(t *testing.T) {
	ctx := vmCtx(t, 20*time.Second)
	vm := startTestVM(t, ctx, WithEvents())

	ret, err := vm.QMP(ctx, "query-status", nil)
	if err != nil {
		t.Fatal(err)
	}
	var status struct{ Status string }
	if json.Unmarshal(ret, &status); status.Status != "running" {
		t.Errorf("query-status = %s, want running", ret)
	}
	assertChardevs(t, ctx, vm, "qmp", "serial0", "events")
	if pgid, err := syscall.Getpgid(vm.Pid()); err != nil || pgid == syscall.Getpgrp() {
		t.Errorf("qemu in process group %d (%v), same as the harness: Ctrl-C would kill it", pgid, err)
	}

	waitErr := make(chan error, 1)
	go func() {
		_, err := vm.WaitEvent(ctx, Match("boot", "", "ready"))
		waitErr <- err
	}()
	if err := vm.Quit(ctx); err != nil {
		t.Fatalf("Quit: %v", err)
	}
	if err := vm.Wait(ctx); err != nil {
		t.Errorf("Wait after Quit = %v, want exit status 0", err)
	}
	if err := <-waitErr; !errors.Is(err, ErrExited) {
		t.Errorf("WaitEvent across Quit = %v, want ErrExited", err)
	}
	if _, err := vm.QMP(ctx, "query-status", nil); err == nil {
		t.Error("QMP after exit succeeded")
	}
	assertLogs(t, vm)
}

func assertChardevs(t *testing.T, ctx context.Context, vm *VM, labels ...string) {
	t.Helper()
	ret, err := vm.QMP(ctx, "query-chardev", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range labels {
		if !strings.Contains(string(ret), `"label": "`+l+`"`) {
			t.Errorf("query-chardev lacks %q: %s", l, ret)
		}
	}
}

func assertLogs(t *testing.T, vm *VM) {
	t.Helper()
	serial, err := os.ReadFile(vm.LogPath())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(serial), "# "+defaultBinary+" -name "+vm.Name()) {
		t.Errorf("serial log does not start with the command line:\n%.200s", serial)
	}
	qemuLog, err := os.ReadFile(strings.TrimSuffix(vm.LogPath(), ".log") + ".qemu.log")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(qemuLog), "exit: exit status 0") {
		t.Errorf("qemu log lacks the exit status:\n%s", qemuLog)
	}
	if _, err := os.Stat(strings.TrimSuffix(vm.LogPath(), ".log") + ".events.jsonl"); err != nil {
		t.Errorf("events log: %v", err)
	}
}

func TestVMKill(t *testing.T) {
	ctx := vmCtx(t, 20*time.Second)
	vm := startTestVM(t, ctx)
	vm.Kill()
	err := vm.Wait(ctx)
	if err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("Wait after Kill = %v, want signal: killed", err)
	}
	vm.Kill() // again: a no-op
	assertGone(t, vm)
}

func TestVMContextCancelKills(t *testing.T) {
	ctx, cancel := context.WithCancel(vmCtx(t, 20*time.Second))
	vm := startTestVM(t, ctx)
	cancel()
	if err := vm.Wait(vmCtx(t, 10*time.Second)); err == nil {
		t.Error("Wait after cancelling Start's context = nil, want a kill")
	}
	assertGone(t, vm)
}

func TestVMWaitTimesOut(t *testing.T) {
	vm := startTestVM(t, vmCtx(t, 20*time.Second))
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if err := vm.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait on a running VM = %v, want DeadlineExceeded", err)
	}
	if err := vm.WaitSerial(ctx, "never printed"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitSerial = %v, want DeadlineExceeded", err)
	}
}

func TestVMStartErrorQuotesQEMU(t *testing.T) {
	needQEMU(t)
	_, err := Start(vmCtx(t, 20*time.Second), WithAccel("tcg"), WithLogDir(t.TempDir()),
		WithExtraArgs("-device", "no-such-device"))
	if err == nil {
		t.Fatal("Start with a bogus device succeeded")
	}
	if !errors.Is(err, ErrExited) || !strings.Contains(err.Error(), "'no-such-device' is not a valid device model name") {
		t.Errorf("error is not ErrExited quoting QEMU's complaint: %v", err)
	}
	if kids := childProcesses(t); len(kids) > 0 {
		t.Errorf("child processes left after a failed Start: %v", kids)
	}
}

func TestVMUEFISerial(t *testing.T) {
	if testing.Short() {
		t.Skip("OVMF takes ~10 s under TCG")
	}
	requireOVMF(t)
	ctx := vmCtx(t, 20*time.Second)
	var tee strings.Builder // written under the serial log's lock, read after exit
	vm := startTestVM(t, ctx, WithUEFI(ovmfCode, ovmfVars), WithMemory(256), WithSerialStdout(&tee))
	assertSameFile(t, vm.VarsPath(), ovmfVars)
	// OVMF writes its boot manager's progress to the serial port.
	if err := vm.WaitSerial(ctx, "BdsDxe"); err != nil {
		t.Fatal(err)
	}
	if err := vm.PowerButton(ctx); err != nil {
		t.Errorf("PowerButton: %v", err)
	}
	if err := vm.Quit(ctx); err != nil {
		t.Errorf("Quit: %v", err)
	}
	if !strings.Contains(vm.SerialLog(), "BdsDxe") {
		t.Error("SerialLog lacks what WaitSerial saw")
	}
	if tee.String() != vm.SerialLog() {
		t.Errorf("serial tee has %d bytes, SerialLog %d", tee.Len(), len(vm.SerialLog()))
	}
}

// assertSameFile checks that the VM got a private copy of the vars template.
func assertSameFile(t *testing.T, copyPath, template string) {
	t.Helper()
	if copyPath == template || !strings.HasPrefix(filepath.Base(copyPath), "TestVMUEFISerial") {
		t.Errorf("vars file %q is not a per-VM copy", copyPath)
	}
	a, errA := os.ReadFile(copyPath)
	b, errB := os.ReadFile(template)
	if errA != nil || errB != nil || len(a) != len(b) {
		t.Errorf("vars copy %s: %d bytes (%v), template %d bytes (%v)", copyPath, len(a), errA, len(b), errB)
	}
}

func TestAccelOverride(t *testing.T) {
	t.Setenv("KILN_ACCEL", "tcg")
	if a, err := Accel(); a != "tcg" || err != nil {
		t.Errorf("Accel with KILN_ACCEL=tcg = %q, %v", a, err)
	}
	t.Setenv("KILN_ACCEL", "xen")
	if _, err := Accel(); err == nil {
		t.Error("Accel with KILN_ACCEL=xen succeeded")
	}
}

func TestProbeKVMIsBounded(t *testing.T) {
	needQEMU(t)
	start := time.Now()
	err := ProbeKVM(t.Context())
	t.Logf("ProbeKVM after %v: %v", time.Since(start).Round(time.Millisecond), err)
	if d := time.Since(start); d > kvmProbeBudget+3*time.Second {
		t.Errorf("probe took %v, budget %v", d, kvmProbeBudget)
	}
	if kids := childProcesses(t); len(kids) > 0 {
		t.Errorf("probe left child processes: %v", kids)
	}
	t.Setenv("KILN_ACCEL", "")
	a, accelErr := Accel()
	if accelErr != nil || (a != "kvm" && a != "tcg") || (err == nil) != (a == "kvm") {
		t.Errorf("Accel() = %q, %v; probe said %v", a, accelErr, err)
	}
}

// TestPrepareRefusesARunningName: two VMs of one process running at once with the same
// name and log folder would share log files; the second is refused until the first is
// gone. No QEMU is started: prepare makes only the files and sockets.
func TestPrepareRefusesARunningName(t *testing.T) {
	dir := t.TempDir()
	cfg := func() *config {
		c := defaultConfig()
		WithName("twin")(&c)
		WithLogDir(dir)(&c)
		return &c
	}
	first, err := prepare(cfg(), "tcg")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := prepare(cfg(), "tcg"); err == nil || !strings.Contains(err.Error(), "twin") {
		t.Errorf("a second VM named twin: %v, want a refusal naming it", err)
	}
	other := cfg()
	WithName("other")(other)
	second, err := prepare(other, "tcg")
	if err != nil {
		t.Errorf("a VM with another name: %v", err)
	} else {
		second.release()
	}
	first.release()
	again, err := prepare(cfg(), "tcg")
	if err != nil {
		t.Fatalf("twin after the first was released: %v", err)
	}
	again.release()
}
