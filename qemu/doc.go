// Package qemu is the VM harness: it starts qemu-system-x86_64 for the end-to-end tests and
// for `kiln run`, and gives the caller structured signals instead of screen scraping.
//
// A VM is started with functional options (WithKernel, WithUEFI, WithTPM, WithDisk, ...)
// and always has:
//
//   - a QMP control socket (a tiny client in this package) for power button and quit;
//   - the serial console, kept in memory for WaitSerial, written to <logdir>/<name>.log and
//     optionally teed to a writer (WithSerialStdout);
//   - a sibling <logdir>/<name>.qemu.log with the full command line, QEMU's stderr and its
//     exit status;
//   - with WithEvents, the virtio-serial port kiln.events, whose JSON lines are parsed with
//     events.Parse, kept in order for WaitEvent and copied to <logdir>/<name>.events.jsonl;
//   - with WithTPM, a TPM 2.0 (tpm-tis) emulated by swtpm, whose log is
//     <logdir>/<name>.swtpm.log;
//   - with WithLabNIC, a virtio NIC on a lab network's tap (qemu/lab), with QEMU running
//     inside the lab's network namespace under `ip netns exec`, which execs it (the pid
//     is QEMU's); OVMF can netboot from it (WithNetBootFirst puts it first).
//
// Several VMs may run at once, each with its own name: Start refuses a second running VM
// with the same name and log folder, whose logs would overwrite the first one's.
//
// swtpm is a second child process per VM. Start launches it before QEMU on a control
// socket the harness already listens on (so nothing polls), and stops it after QEMU
// exits, whatever the reason (quit, Kill, the context, a failed start-up), before the VM
// counts as exited. Its state folder is the caller's and is kept: pass the same folder to
// the next VM to give a rebooted machine the same TPM (sealed keys, NV indexes). The
// firmware, not swtpm, sends TPM2_Startup, and OVMF measures the boot into the PCRs as
// on real hardware. Errors from a VM with a TPM quote the tail of swtpm's log.
//
// Tests decide from events (WaitEvent), never from console text; WaitSerial exists for
// diagnostics. Every wait is bounded: a context without a deadline gets DefaultTimeout.
// QEMU (and swtpm) run as child processes that die with the Start context, with Kill, and
// with the parent process (PDEATHSIG): nothing outlives the test that started it.
//
// The package drives QEMU (and its swtpm) only. It must not build images, hold keys or know what the guest
// does beyond the shared events package.
package qemu
