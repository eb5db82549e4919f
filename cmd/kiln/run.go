package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kiln-os/kiln/pipeline"
	"github.com/kiln-os/kiln/qemu"
)

// cmdRun boots the built image in QEMU with the serial console on stdout. It returns when
// the machine powers off, when the timeout passes, or on Ctrl-C (which presses the power
// button first and gives the machine time to shut down).
func cmdRun(ctx context.Context, args []string, stdout io.Writer, log *logrus.Logger) error {
	fs := newFlagSet("run")
	out := fs.String("out", "_out", "output directory of a build")
	timeout := fs.Duration("timeout", 24*time.Hour, "kill the VM after this long")
	memory := fs.Int("memory", 1024, "guest memory in MiB")
	cmdline := fs.String("cmdline", "", "override the kernel command line (direct kernel boot only)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	m, err := pipeline.ReadManifest(*out)
	if err != nil {
		return err
	}
	vmlinuz, err := m.Path(*out, "vmlinuz")
	if err != nil {
		return err
	}
	initramfs, err := m.Path(*out, "initramfs")
	if err != nil {
		return err
	}
	if *cmdline == "" {
		*cmdline = m.Cmdline
	}
	// The VM lives on its own context: Ctrl-C (ctx) presses the power button instead of
	// killing QEMU outright.
	runCtx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	vm, err := qemu.Start(runCtx,
		qemu.WithName("run"),
		qemu.WithLogDir(filepath.Join(*out, "qemu-logs")),
		qemu.WithKernel(vmlinuz, initramfs, *cmdline),
		qemu.WithEvents(),
		qemu.WithMemory(*memory),
		qemu.WithExtraArgs("-device", "i6300esb"),
		qemu.WithSerialStdout(stdout),
	)
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
