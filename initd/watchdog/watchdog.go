// Package watchdog keeps the hardware watchdog fed. machined runs it as the service
// "watchdogd" (a child process), so that a machine whose kernel or userspace hangs is reset
// by the hardware and systemd-boot's boot counting can fall back to the previous UKI.
//
// Linux watchdog API: Documentation/watchdog/watchdog-api.rst. Stopping writes the magic
// 'V' before closing, which disarms the timer on drivers without NOWAYOUT.
package watchdog

import (
	"context"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Linux watchdog ioctls (include/uapi/linux/watchdog.h).
const (
	wdiocKeepalive  = 0x80045705
	wdiocSetTimeout = 0xc0045706
)

// DefaultDevice is the first watchdog.
const DefaultDevice = "/dev/watchdog0"

// ArmedFile exists while the watchdog is armed and fed; machined's health check for the
// service reads it, so "healthy" means "the hardware is being fed", not "a process runs".
const ArmedFile = "/run/watchdogd.armed"

// Healthy reports whether a watchdogd has armed the watchdog.
func Healthy(armedFile string) error {
	if _, err := os.Stat(armedFile); err != nil {
		return fmt.Errorf("watchdog not armed yet: %w", err)
	}
	return nil
}

// Run arms the watchdog at dev with the given timeout, creates armedFile, and feeds it
// every timeout/3 until ctx ends; then it disarms it and removes armedFile.
func Run(ctx context.Context, dev, armedFile string, timeout time.Duration, logf func(string, ...any)) error {
	f, err := os.OpenFile(dev, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	secs := int(timeout / time.Second)
	if err := unix.IoctlSetPointerInt(int(f.Fd()), wdiocSetTimeout, secs); err != nil {
		logf("watchdog %s: cannot set timeout %ds, keeping the driver's: %v", dev, secs, err)
	}
	logf("watchdog %s armed, timeout %ds", dev, secs)
	if err := os.WriteFile(armedFile, []byte(dev+"\n"), 0o644); err != nil {
		disarm(f)
		return err
	}
	defer os.Remove(armedFile)
	tick := time.NewTicker(timeout / 3)
	defer tick.Stop()
	for {
		if _, err := unix.IoctlRetInt(int(f.Fd()), wdiocKeepalive); err != nil {
			f.Close()
			return &os.PathError{Op: "ioctl WDIOC_KEEPALIVE", Path: dev, Err: err}
		}
		select {
		case <-ctx.Done():
			return disarm(f)
		case <-tick.C:
		}
	}
}

func disarm(f *os.File) error {
	if _, err := f.Write([]byte("V")); err != nil {
		f.Close()
		return fmt.Errorf("watchdog %s: magic close: %w", f.Name(), err)
	}
	return f.Close()
}
