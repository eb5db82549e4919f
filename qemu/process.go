package qemu

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// launch starts the process and connects QMP; on error nothing is left running.
func (vm *VM) launch(ctx context.Context, cfg *config) error {
	if vm.tpm != nil {
		if err := vm.tpm.start(ctx); err != nil {
			vm.release()
			return fmt.Errorf("qemu %s: %w%s", vm.name, err, vm.tpm.note())
		}
		vm.logf("qemu %s: swtpm pid %d, state %s, log %s", vm.name, vm.tpm.cmd.Process.Pid, vm.tpm.stateDir, vm.tpm.logPath)
	}
	argv := cfg.command(vm.accel, vm.runtimePaths())
	line := commandLine(argv)
	fmt.Fprintf(vm.files.qemu, "%s\n\n", line)
	fmt.Fprintf(vm.files.serial, "# %s\n", line)
	vm.cmd = exec.CommandContext(ctx, argv[0], argv[1:]...)
	vm.cmd.Stdout = vm.serial
	vm.cmd.Stderr = io.MultiWriter(vm.files.qemu, vm.stderr)
	vm.cmd.SysProcAttr = &syscall.SysProcAttr{
		// If the test binary or kiln dies without cleaning up, the kernel kills QEMU.
		// ip netns exec keeps it: neither ip nor QEMU is set-user-ID (prctl(2)).
		Pdeathsig: syscall.SIGKILL,
		// A terminal's Ctrl-C goes to the harness only (which may press the power
		// button), not straight to QEMU, which would quit.
		Setpgid: true,
	}
	vm.cmd.WaitDelay = 5 * time.Second
	if err := vm.cmd.Start(); err != nil {
		vm.stopTPM()
		vm.release()
		return fmt.Errorf("qemu %s: %w", vm.name, err)
	}
	vm.logf("qemu %s: pid %d, accel %s, serial log %s", vm.name, vm.cmd.Process.Pid, vm.accel, vm.logPath)
	go vm.reap()
	if vm.eventsListener != nil {
		go vm.readEvents()
	} else {
		close(vm.eventsDone)
	}
	if err := vm.connectQMP(ctx); err != nil {
		return fmt.Errorf("qemu %s: %w%s", vm.name, vm.abortStart(err), vm.stderrNote())
	}
	return nil
}

// abortStart kills a VM whose start-up failed with err. QEMU usually failed on its own
// (a bad option): then its exit status says more than the broken QMP connection.
func (vm *VM) abortStart(err error) error {
	select {
	case <-vm.procExited:
	case <-time.After(time.Second):
	}
	vm.Kill()
	var exit *exec.ExitError
	if errors.As(vm.exitErr, &exit) && exit.Exited() {
		return fmt.Errorf("%w during start-up: %v", ErrExited, exit)
	}
	return err
}

func (vm *VM) connectQMP(ctx context.Context) error {
	vm.qmpListener.SetDeadline(time.Now().Add(connectTimeout))
	conn, err := vm.qmpListener.Accept()
	if err != nil {
		return fmt.Errorf("wait for QMP connection: %w", err)
	}
	vm.connMu.Lock()
	vm.qmpConn = conn
	vm.connMu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	vm.qmp, err = newQMPClient(ctx, conn)
	return err
}

// readEvents reads the kiln.events socket that QEMU connects at start-up.
func (vm *VM) readEvents() {
	defer close(vm.eventsDone)
	conn, err := vm.eventsListener.Accept()
	if err != nil {
		return // QEMU exited before connecting; reap closed the listener.
	}
	defer conn.Close()
	vm.connMu.Lock()
	vm.eventsConn = conn
	vm.connMu.Unlock()
	vm.events.readFrom(conn, vm.files.eventsWriter(), vm.logf)
}

// reap waits for QEMU to exit, lets the readers finish, and releases everything.
func (vm *VM) reap() {
	err := vm.cmd.Wait() // returns after stdout and stderr reached EOF
	vm.exitErr = err
	close(vm.procExited)
	vm.qmpListener.Close()
	if vm.eventsListener != nil {
		vm.eventsListener.Close()
	}
	vm.drainEvents()
	vm.connMu.Lock()
	if vm.qmpConn != nil {
		vm.qmpConn.Close()
	}
	vm.connMu.Unlock()
	fmt.Fprintf(vm.files.qemu, "\nexit: %s\n", exitStatus(err))
	vm.stopTPM()
	vm.release()
	vm.logf("qemu %s: exited: %s", vm.name, exitStatus(err))
	close(vm.exited)
}

// drainEvents waits for the events reader to see EOF, forcing it after drainTimeout.
func (vm *VM) drainEvents() {
	select {
	case <-vm.eventsDone:
		return
	case <-time.After(drainTimeout):
	}
	vm.connMu.Lock()
	if vm.eventsConn != nil {
		vm.eventsConn.Close()
	}
	vm.connMu.Unlock()
	<-vm.eventsDone
}

// stopTPM stops swtpm, if any, before the socket folder goes and before the VM counts as
// exited: a caller that starts the next VM on the same TPM state must find it unlocked.
func (vm *VM) stopTPM() {
	if vm.tpm != nil {
		vm.tpm.stop()
	}
}

// release closes the log files and listeners, removes the socket folder and frees the VM's
// name for the next VM.
func (vm *VM) release() {
	vm.files.close()
	for _, l := range []*net.UnixListener{vm.qmpListener, vm.eventsListener} {
		if l != nil {
			l.Close()
		}
	}
	if vm.tpm != nil {
		vm.tpm.closeListener()
	}
	if vm.runDir != "" {
		os.RemoveAll(vm.runDir)
	}
	if vm.logKey != "" {
		runningLogs.CompareAndDelete(vm.logKey, vm)
	}
}
