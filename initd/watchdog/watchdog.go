// Package watchdog drives the hardware watchdog so that a machine that hangs is reset by
// the hardware, and systemd-boot's boot counting can then fall back to the previous UKI.
//
// Two owners take turns. machined arms the watchdog as its first act and feeds it during
// the boot, but only until a boot deadline: a boot stuck in a phase stops being fed and the
// hardware resets it. When services start, machined hands the still-armed device over
// (closing it without the magic character keeps the timer running) to the service
// "watchdogd", which feeds it while the machine runs and disarms it on a clean stop.
//
// Linux watchdog API: Documentation/watchdog/watchdog-api.rst. Any write feeds the timer;
// writing 'V' before close disarms it on drivers without NOWAYOUT.
package watchdog

import (
	"context"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// wdiocSetTimeout is WDIOC_SETTIMEOUT (include/uapi/linux/watchdog.h).
const wdiocSetTimeout = 0xc0045706

// DefaultDevice is the first watchdog.
const DefaultDevice = "/dev/watchdog0"

// DefaultTimeout is how long the machine may go unfed before the hardware resets it.
const DefaultTimeout = 60 * time.Second

// ArmedFile exists while watchdogd has the watchdog armed and fed; machined's health check
// for the service reads it, so "healthy" means "the hardware is being fed".
const ArmedFile = "/run/watchdogd.armed"

// Device is an open, therefore armed, watchdog.
type Device struct {
	f    *os.File
	path string
}

// Open arms the watchdog at path and asks for timeout (drivers that cannot keep theirs).
func Open(path string, timeout time.Duration) (*Device, error) {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return nil, err
	}
	// Best effort: a regular file (tests) or a driver with a fixed timeout refuses.
	unix.IoctlSetPointerInt(int(f.Fd()), wdiocSetTimeout, int(timeout/time.Second))
	return &Device{f: f, path: path}, nil
}

// Feed restarts the timer.
func (d *Device) Feed() error {
	if _, err := d.f.Write([]byte{0}); err != nil {
		return fmt.Errorf("feed watchdog %s: %w", d.path, err)
	}
	return nil
}

// Disarm stops the timer (magic close) and closes the device.
func (d *Device) Disarm() error {
	if _, err := d.f.Write([]byte("V")); err != nil {
		d.f.Close()
		return fmt.Errorf("watchdog %s: magic close: %w", d.path, err)
	}
	return d.f.Close()
}

// Release closes the device and leaves the timer running, for the next owner to feed.
func (d *Device) Release() error { return d.f.Close() }

// Healthy reports whether a watchdogd has armed the watchdog.
func Healthy(armedFile string) error {
	if _, err := os.Stat(armedFile); err != nil {
		return fmt.Errorf("watchdog not armed yet: %w", err)
	}
	return nil
}

// Run is the watchdogd service: open dev, create armedFile, feed every timeout/3 until ctx
// ends, then disarm and remove armedFile.
func Run(ctx context.Context, dev, armedFile string, timeout time.Duration, logf func(string, ...any)) error {
	d, err := Open(dev, timeout)
	if err != nil {
		return err
	}
	if err := os.WriteFile(armedFile, []byte(dev+"\n"), 0o644); err != nil {
		d.Disarm()
		return err
	}
	defer os.Remove(armedFile)
	logf("watchdog %s armed, timeout %s", dev, timeout)
	if err := Feed(ctx, d, timeout/3, time.Time{}); err != nil {
		return err
	}
	return d.Disarm()
}

// Feed feeds d every interval until ctx ends (nil) or, when deadline is set, until the
// deadline passes (ErrDeadline): the timer then runs out and the hardware resets the machine.
func Feed(ctx context.Context, d *Device, interval time.Duration, deadline time.Time) error {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		if !deadline.IsZero() && !time.Now().Before(deadline) {
			return ErrDeadline
		}
		if err := d.Feed(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// ErrDeadline is returned by Feed when it stopped feeding at its deadline.
var ErrDeadline = fmt.Errorf("watchdog: boot deadline passed, feeding stopped")
