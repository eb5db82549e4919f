// Package qemu is the VM harness: it starts qemu-system-x86_64 for the end-to-end tests and
// for `kiln run`, and gives the caller structured signals instead of screen scraping.
//
// A VM is started with functional options (WithKernel, WithUEFI, WithDisk, WithEvents, ...)
// and always has:
//
//   - a QMP control socket (a tiny client in this package) for power button and quit;
//   - the serial console, kept in memory for WaitSerial, written to <logdir>/<name>.log and
//     optionally teed to a writer (WithSerialStdout);
//   - a sibling <logdir>/<name>.qemu.log with the full command line, QEMU's stderr and its
//     exit status;
//   - with WithEvents, the virtio-serial port kiln.events, whose JSON lines are parsed with
//     events.Parse, kept in order for WaitEvent and copied to <logdir>/<name>.events.jsonl.
//
// Tests decide from events (WaitEvent), never from console text; WaitSerial exists for
// diagnostics. Every wait is bounded: a context without a deadline gets DefaultTimeout.
// QEMU runs as a child process that dies with the Start context, with Kill, and with the
// parent process (PDEATHSIG): nothing outlives the test that started it.
//
// The package drives QEMU only. It must not build images, hold keys or know what the guest
// does beyond the shared events package.
package qemu
