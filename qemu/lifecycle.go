package qemu

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kiln-os/kiln/initd/events"
)

// ErrExited is wrapped by waits that end because QEMU exited first.
var ErrExited = errors.New("qemu exited")

// Wait waits for QEMU to exit and returns its exit error (nil for exit status 0). A ctx
// without a deadline gets DefaultTimeout.
func (vm *VM) Wait(ctx context.Context) error {
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	select {
	case <-vm.exited:
		return vm.exitError()
	case <-ctx.Done():
		return fmt.Errorf("qemu %s: wait for exit: %w", vm.name, ctx.Err())
	}
}

func (vm *VM) exitError() error {
	if vm.exitErr == nil {
		return nil
	}
	return fmt.Errorf("qemu %s: %w%s", vm.name, vm.exitErr, vm.stderrNote())
}

// Kill kills QEMU and waits (bounded) until it is reaped and its logs are closed. It is
// safe to call more than once and after QEMU exited, e.g. from t.Cleanup.
func (vm *VM) Kill() {
	vm.cmd.Process.Kill()
	select {
	case <-vm.exited:
	case <-time.After(killTimeout):
		vm.logf("qemu %s: not reaped %v after SIGKILL", vm.name, killTimeout)
	}
}

// PowerButton presses the ACPI power button (QMP system_powerdown). It returns when QEMU
// accepted the command; the guest decides what to do.
func (vm *VM) PowerButton(ctx context.Context) error {
	_, err := vm.QMP(ctx, "system_powerdown", nil)
	return err
}

// Quit stops QEMU at once (QMP quit) and waits for it to exit.
func (vm *VM) Quit(ctx context.Context) error {
	// QEMU may close the socket before its answer arrives: the exit is what counts.
	_, quitErr := vm.QMP(ctx, "quit", nil)
	waitErr := vm.Wait(ctx)
	if quitErr != nil && waitErr != nil {
		return errors.Join(quitErr, waitErr)
	}
	return waitErr
}

// Events returns all events received so far, in order (nil without WithEvents).
func (vm *VM) Events() []events.Event {
	if vm.events == nil {
		return nil
	}
	return vm.events.snapshot()
}

// WaitEvent returns the first event that match accepts, including events that arrived
// before the call. It fails when ctx ends (DefaultTimeout without a deadline) or QEMU
// exits first; the error quotes the last events and serial lines.
func (vm *VM) WaitEvent(ctx context.Context, match func(events.Event) bool) (events.Event, error) {
	if vm.events == nil {
		return events.Event{}, fmt.Errorf("qemu %s: WaitEvent needs WithEvents", vm.name)
	}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	from := 0
	for {
		e, next, changed := vm.events.find(from, match)
		if changed == nil {
			return e, nil
		}
		from = next
		select {
		case <-changed:
		case <-vm.exited:
			// The reader has drained the socket: one last look.
			if e, _, changed := vm.events.find(from, match); changed == nil {
				return e, nil
			}
			return events.Event{}, vm.waitError("event", ErrExited)
		case <-ctx.Done():
			return events.Event{}, vm.waitError("event", ctx.Err())
		}
	}
}

// WaitSerial waits until the serial console contains substr (also before the call). For
// diagnostics only: tests decide from events.
func (vm *VM) WaitSerial(ctx context.Context, substr string) error {
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	var from int64
	for {
		found, next, changed := vm.serial.find(substr, from)
		if found {
			return nil
		}
		from = next
		select {
		case <-changed:
		case <-vm.exited:
			if found, _, _ := vm.serial.find(substr, from); found {
				return nil
			}
			return vm.waitError(fmt.Sprintf("serial %q", substr), ErrExited)
		case <-ctx.Done():
			return vm.waitError(fmt.Sprintf("serial %q", substr), ctx.Err())
		}
	}
}

// waitError explains a failed wait: why, the exit status if QEMU is gone, and the last
// events and console lines, so a failing test shows what the guest was doing.
func (vm *VM) waitError(what string, cause error) error {
	var b strings.Builder
	if vm.hasExited() {
		fmt.Fprintf(&b, " (%s)", exitStatus(vm.exitErr))
	}
	if vm.events != nil {
		fmt.Fprintf(&b, "\nlast events:\n%s", vm.events.summary(10))
	}
	fmt.Fprintf(&b, "\nlast serial lines (%s):\n%s", vm.logPath, vm.serial.tail(tailLines))
	b.WriteString(vm.stderrNote())
	return fmt.Errorf("qemu %s: wait for %s: %w%s", vm.name, what, cause, b.String())
}
