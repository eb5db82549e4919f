package qemu

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kiln-os/kiln/internal/oracle"
)

func needSwtpm(t *testing.T) {
	t.Helper()
	oracle.Require(t, defaultSwtpm, "swtpm")
}

// tpmStateDir is a state folder that does not exist yet, with a comma in its path (QEMU
// and swtpm option strings split on commas).
func tpmStateDir(t *testing.T) string {
	return filepath.Join(t.TempDir(), "tpm,state", "vm")
}

// assertTPMDevice checks QMP query-tpm for the swtpm-backed tpm-tis device.
func assertTPMDevice(t *testing.T, ctx context.Context, vm *VM) {
	t.Helper()
	ret, err := vm.QMP(ctx, "query-tpm", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"model": "tpm-tis"`, `"type": "emulator"`, `"chardev": "chrtpm"`, `"id": "tpm0"`} {
		if !strings.Contains(string(ret), want) {
			t.Errorf("query-tpm lacks %s: %s", want, ret)
		}
	}
}

// assertTPMStopped checks, after QEMU exited, that swtpm exited cleanly and left its
// state in the folder.
func assertTPMStopped(t *testing.T, vm *VM) {
	t.Helper()
	if err := syscall.Kill(vm.tpm.cmd.Process.Pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("swtpm pid %d still exists after QEMU exited (kill 0: %v)", vm.tpm.cmd.Process.Pid, err)
	}
	if _, err := os.Stat(filepath.Join(vm.TPMStateDir(), "tpm2-00.permall")); err != nil {
		t.Errorf("TPM state not saved: %v", err)
	}
	log, err := os.ReadFile(vm.TPMLogPath())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(log), "TPM_PATH=") || !strings.Contains(string(log), "\nexit: exit status 0") {
		t.Errorf("swtpm log lacks the command line or a clean exit:\n%s", log)
	}
}

// TestVMTPM runs SeaBIOS (no firmware measurements, but QEMU initialises the TPM) on a
// fresh state folder, then reuses the folder, then shows that a second swtpm on a folder
// in use fails Start with swtpm's complaint.
func TestVMTPM(t *testing.T) {
	needSwtpm(t)
	ctx := vmCtx(t, 20*time.Second)
	state := tpmStateDir(t)

	first := startTestVM(t, ctx, WithTPM(state), WithName("first"))
	if first.TPMStateDir() != state {
		t.Errorf("TPMStateDir = %q, want %q", first.TPMStateDir(), state)
	}
	assertTPMDevice(t, ctx, first)
	if err := first.Quit(ctx); err != nil {
		t.Fatalf("Quit: %v", err)
	}
	assertTPMStopped(t, first)

	// Quit returned: the folder is unlocked for the next VM at once.
	second := startTestVM(t, ctx, WithTPM(state), WithName("second"))
	assertTPMDevice(t, ctx, second)

	_, err := Start(ctx, WithAccel("tcg"), WithMemory(128), WithLogDir(t.TempDir()),
		WithName("third"), WithTPM(state))
	if err == nil {
		t.Fatal("Start on a TPM state folder in use succeeded")
	}
	t.Logf("Start on a locked state folder: %v", err)
	if !strings.Contains(err.Error(), "third.swtpm.log") || !strings.Contains(err.Error(), "lock") {
		t.Errorf("error does not quote swtpm's log: %v", err)
	}
	if kids := childProcesses(t); len(kids) != 2 {
		t.Errorf("want only the second VM's qemu and swtpm, have %v", kids)
	}
}

func TestVMTPMKill(t *testing.T) {
	needSwtpm(t)
	vm := startTestVM(t, vmCtx(t, 20*time.Second), WithTPM(tpmStateDir(t)))
	vm.Kill()
	assertGone(t, vm)
}

func TestVMTPMContextCancel(t *testing.T) {
	needSwtpm(t)
	ctx, cancel := context.WithCancel(vmCtx(t, 20*time.Second))
	vm := startTestVM(t, ctx, WithTPM(tpmStateDir(t)))
	cancel()
	if err := vm.Wait(vmCtx(t, 10*time.Second)); err == nil {
		t.Error("Wait after cancelling Start's context = nil, want a kill")
	}
	assertGone(t, vm)
}

func TestVMTPMMissingSwtpm(t *testing.T) {
	needQEMU(t)
	cfgTPM := func(c *config) {
		WithTPM(tpmStateDir(t))(c)
		c.tpm.binary = "/nonexistent/swtpm"
	}
	_, err := Start(vmCtx(t, 10*time.Second), WithAccel("tcg"), WithLogDir(t.TempDir()), cfgTPM)
	if err == nil || !strings.Contains(err.Error(), "start swtpm") {
		t.Errorf("Start without swtpm = %v, want a start swtpm error", err)
	}
	if kids := childProcesses(t); len(kids) > 0 {
		t.Errorf("child processes left: %v", kids)
	}
}

// TestVMUEFITPM boots OVMF with a TPM: OVMF finds it, sends TPM2_Startup and measures
// into it while it boots to its boot manager.
func TestVMUEFITPM(t *testing.T) {
	if testing.Short() {
		t.Skip("OVMF takes ~10 s under TCG")
	}
	needSwtpm(t)
	requireOVMF(t)
	ctx := vmCtx(t, 20*time.Second)
	vm := startTestVM(t, ctx, WithUEFI(ovmfCode, ovmfVars), WithMemory(256), WithTPM(tpmStateDir(t)))
	assertTPMDevice(t, ctx, vm)
	if err := vm.WaitSerial(ctx, "BdsDxe"); err != nil {
		t.Fatal(err)
	}
	if err := vm.Quit(ctx); err != nil {
		t.Errorf("Quit: %v", err)
	}
	assertTPMStopped(t, vm)
}
