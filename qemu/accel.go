package qemu

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// kvmProbeBudget is how long the probe guest may take. Under a working KVM SeaBIOS reaches
// its last line in well under a second; a nested or half-working KVM takes many seconds
// per thousand VM exits, which would make a real boot slower than TCG.
const kvmProbeBudget = 3 * time.Second

// kvmProbeDone is the last line SeaBIOS writes to its debug port when there is nothing to
// boot: the whole firmware ran, port I/O included.
const kvmProbeDone = "No bootable device"

var detectedAccel = sync.OnceValues(detectAccel)

// Accel returns the accelerator VMs use: "kvm" when ProbeKVM shows KVM really runs a guest
// (probed once per process), else "tcg". KILN_ACCEL=kvm|tcg overrides the probe. The
// error is for a bad KILN_ACCEL or a missing QEMU, not for a KVM that does not work.
func Accel() (string, error) {
	switch v := os.Getenv("KILN_ACCEL"); v {
	case "":
		return detectedAccel()
	case "kvm", "tcg":
		return v, nil
	default:
		return "", fmt.Errorf("qemu: KILN_ACCEL=%q: want kvm or tcg", v)
	}
}

func detectAccel() (string, error) {
	if _, err := exec.LookPath(defaultBinary); err != nil {
		return "", fmt.Errorf("qemu: %w", err)
	}
	if err := ProbeKVM(context.Background()); err != nil {
		return "tcg", nil
	}
	return "kvm", nil
}

// ProbeKVM says why KVM cannot be used, or nil when it can: /dev/kvm opens read-write and a
// q35 guest with SMM (which Secure Boot needs) runs SeaBIOS to its end within
// kvmProbeBudget (or ctx's deadline, if sooner). The probe costs one short QEMU run. It
// reads SeaBIOS's debug port (0x402, on in SeaBIOS's default build); a firmware without
// it makes the probe fail, which errs on the safe side (TCG).
func ProbeKVM(ctx context.Context) error {
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("kvm: %w", err)
	}
	f.Close()
	ctx, cancel := context.WithTimeout(ctx, kvmProbeBudget)
	defer cancel()
	return runKVMProbe(ctx)
}

func runKVMProbe(ctx context.Context) error {
	cmd := exec.CommandContext(ctx, defaultBinary, kvmProbeArgs()...)
	stderr := newTailBuffer(4 << 10)
	cmd.Stderr = stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	cmd.WaitDelay = time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("kvm probe: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("kvm probe: %w", err)
	}
	done := scanFor(stdout, kvmProbeDone)
	cmd.Process.Kill()
	waitErr := cmd.Wait()
	switch {
	case done:
		return nil
	case ctx.Err() != nil:
		return fmt.Errorf("kvm probe: firmware did not finish within %v (KVM lacks a feature or is too slow): %w",
			kvmProbeBudget, ctx.Err())
	default:
		return fmt.Errorf("kvm probe: qemu exited: %w: %s", waitErr, strings.TrimSpace(stderr.String()))
	}
}

// kvmProbeArgs: the machine Start would use with UEFI (q35, SMM, host CPU), SeaBIOS's
// debug port on stdout, nothing else.
func kvmProbeArgs() []string {
	return []string{
		"-machine", "q35,smm=on", "-accel", "kvm", "-cpu", "host", "-m", "128",
		"-nodefaults", "-no-user-config", "-display", "none",
		"-chardev", "stdio,id=debug,signal=off",
		"-device", "isa-debugcon,iobase=0x402,chardev=debug",
	}
}

// scanFor reads lines until one contains marker (true) or the stream ends (false).
func scanFor(r io.Reader, marker string) bool {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if strings.Contains(sc.Text(), marker) {
			return true
		}
	}
	return false
}
