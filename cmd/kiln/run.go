package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kiln-os/kiln/internal/sparse"
	"github.com/kiln-os/kiln/pipeline"
	"github.com/kiln-os/kiln/qemu"
)

// OVMF from Debian's ovmf package: Secure Boot code and a vars template in setup mode.
const (
	ovmfCode      = "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd"
	ovmfSetupVars = "/usr/share/OVMF/OVMF_VARS_4M.fd"
)

// cmdRun boots the built image in QEMU with the serial console on stdout: by default the
// signed disk image under OVMF with Secure Boot, as a machine whose disk
// (_out/qemu-logs/run-disk.raw) and firmware variables (run.vars.fd) persist across runs;
// the first run enrols the keys. --direct boots vmlinuz and the initramfs without firmware.
// It returns when the machine powers off, when the timeout passes, or on Ctrl-C (which
// presses the power button first and gives the machine time to shut down).
func cmdRun(ctx context.Context, args []string, stdout io.Writer, log *logrus.Logger) error {
	fs := newFlagSet("run")
	out := fs.String("out", "_out", "output directory of a build")
	timeout := fs.Duration("timeout", 24*time.Hour, "kill the VM after this long")
	memory := fs.Int("memory", 1024, "guest memory in MiB")
	direct := fs.Bool("direct", false, "boot vmlinuz + initramfs directly, without UEFI")
	fresh := fs.Bool("fresh", false, "start from a new copy of disk.raw and firmware in setup mode")
	cmdline := fs.String("cmdline", "", "override the kernel command line (with --direct)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	m, err := pipeline.ReadManifest(*out)
	if err != nil {
		return err
	}
	var boot []qemu.Option
	if *direct {
		boot, err = directBoot(m, *out, *cmdline)
	} else {
		boot, err = uefiBoot(m, *out, *fresh, log)
	}
	if err != nil {
		return err
	}
	// The VM lives on its own context: Ctrl-C (ctx) presses the power button instead of
	// killing QEMU outright.
	runCtx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	vm, err := qemu.Start(runCtx, append(boot,
		qemu.WithName("run"),
		qemu.WithLogDir(filepath.Join(*out, "qemu-logs")),
		qemu.WithEvents(),
		qemu.WithMemory(*memory),
		// qemu64 reports a hypervisor, so systemd-boot skips its enrolment countdown.
		qemu.WithExtraArgs("-device", "i6300esb", "-cpu", "qemu64"),
		qemu.WithSerialStdout(stdout),
	)...)
	if err != nil {
		return err
	}
	defer vm.Kill()
	log.WithFields(logrus.Fields{"accel": vm.AccelName(), "log": vm.LogPath()}).Info("VM started; Ctrl-C presses the power button")
	return waitRun(ctx, runCtx, vm, log)
}

func waitRun(ctx, runCtx context.Context, vm *qemu.VM, log *logrus.Logger) error {
	exited := make(chan error, 1)
	go func() { exited <- vm.Wait(runCtx) }()
	select {
	case err := <-exited:
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("run: VM still running after the timeout (killed)")
		}
		return err
	case <-ctx.Done():
		log.Info("power button pressed; waiting up to 60s for shutdown")
		pressCtx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if err := vm.PowerButton(pressCtx); err != nil {
			return err
		}
		select {
		case err := <-exited:
			return err
		case <-pressCtx.Done():
			return fmt.Errorf("run: VM did not power off within 60s (killed)")
		}
	}
}

func directBoot(m *pipeline.Manifest, out, cmdline string) ([]qemu.Option, error) {
	vmlinuz, err := m.Path(out, "vmlinuz")
	if err != nil {
		return nil, err
	}
	initramfs, err := m.Path(out, "initramfs")
	if err != nil {
		return nil, err
	}
	if cmdline == "" {
		cmdline = m.Cmdline
	}
	return []qemu.Option{qemu.WithKernel(vmlinuz, initramfs, cmdline)}, nil
}

// uefiBoot prepares the persistent machine: its disk starts as a copy of disk.raw, its
// firmware variables as OVMF's setup-mode template.
func uefiBoot(m *pipeline.Manifest, out string, fresh bool, log *logrus.Logger) ([]qemu.Option, error) {
	disk, err := m.Path(out, "disk")
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(out, "qemu-logs")
	machineDisk, vars := filepath.Join(dir, "run-disk.raw"), filepath.Join(dir, "run.vars.fd")
	for _, pair := range [][2]string{{disk, machineDisk}, {ovmfSetupVars, vars}} {
		if _, err := os.Stat(pair[1]); err == nil && !fresh {
			continue
		}
		if err := sparse.Copy(pair[0], pair[1]); err != nil {
			return nil, fmt.Errorf("prepare %s (install ovmf: make deps): %w", pair[1], err)
		}
		log.WithField("file", pair[1]).Info("new machine state")
	}
	return []qemu.Option{qemu.WithUEFIVars(ovmfCode, vars), qemu.WithDisk(machineDisk)}, nil
}
