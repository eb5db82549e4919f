// Package partition finds Kiln's partitions by GPT partition name (EFI, STATE,
// EPHEMERAL) through sysfs, waits for them while a disk driver is still probing, and
// reports block device sizes.
//
// It is node-side and read-only: it never writes to a device or to sysfs.
package partition

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// SysClassBlock is where the kernel lists block devices.
const SysClassBlock = "/sys/class/block"

// ErrNotFound is returned (wrapped) when no partition has the label.
var ErrNotFound = errors.New("partition: not found")

// Find returns /dev/NAME of the partition whose GPT partition name is label, from the
// DEVNAME and PARTNAME lines of sysClassBlock/*/uevent. Two partitions with the same
// name (a second Kiln disk plugged in) are an error: guessing could mount the wrong
// STATE.
func Find(sysClassBlock, label string) (string, error) {
	uevents, err := filepath.Glob(filepath.Join(sysClassBlock, "*", "uevent"))
	if err != nil {
		return "", err
	}
	var found []string
	for _, path := range uevents {
		name, partName := readUevent(path)
		if partName == label && name != "" {
			found = append(found, "/dev/"+name)
		}
	}
	switch len(found) {
	case 0:
		return "", fmt.Errorf("%w: no partition named %q in %s", ErrNotFound, label, sysClassBlock)
	case 1:
		return found[0], nil
	}
	return "", fmt.Errorf("%d partitions are named %q (%s): remove the other disk so the right one is used",
		len(found), label, strings.Join(found, ", "))
}

// readUevent returns the DEVNAME and PARTNAME of one uevent file; unreadable files
// (a device going away) read as empty.
func readUevent(path string) (name, partName string) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", ""
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "DEVNAME="); ok {
			name = v
		}
		if v, ok := strings.CutPrefix(line, "PARTNAME="); ok {
			partName = v
		}
	}
	return name, partName
}

// SysClass is where the kernel lists devices by class: block/, nvme/, mmc_host/.
const SysClass = "/sys/class"

// PollInterval is how often Wait looks again when no uevent woke it.
const PollInterval = 50 * time.Millisecond

// Wait returns the partition named label under sysClass/block as soon as it appears. It
// does not wait out a timer: when the partition is absent and no disk driver is still
// probing (Probing), it returns ErrNotFound at once, naming that evidence. While a driver
// is probing it looks again on every kernel uevent (a disk or partition added) and every
// PollInterval, until the partition appears, nothing probes any more, or ctx ends (the
// caller's bound, a safety net; the error then names the label and what still probed).
func Wait(ctx context.Context, sysClass, label string) (string, error) {
	uevents := openUevents() // before the first look, so no add falls between the two
	if uevents >= 0 {
		defer unix.Close(uevents)
	}
	buf := make([]byte, 8192)
	for {
		dev, err := Find(filepath.Join(sysClass, "block"), label)
		if !errors.Is(err, ErrNotFound) {
			return dev, err
		}
		probing := Probing(sysClass)
		if len(probing) == 0 {
			return "", fmt.Errorf("%w (no disk driver is still probing)", err)
		}
		if ctx.Err() != nil {
			return "", fmt.Errorf("wait for partition %q: %w (%v; still probing: %s)", label, ctx.Err(), err, strings.Join(probing, ", "))
		}
		waitUevent(ctx, uevents, buf)
	}
}

// Probing names the disk controllers whose disks may still appear after /init starts.
// Built-in drivers have probed by then, the asynchronous probes too (SCSI host scans,
// libata ports): kernel_init runs async_synchronize_full() before it starts /init
// (init/main.c). What comes later is work the drivers queue on their own:
//   - an NVMe controller resets and then scans its namespaces in the nvme workqueues
//     (drivers/nvme/host/core.c, nvme_scan_work), so a controller that is not "live", or
//     is live with no namespace yet, is still probing;
//   - an MMC host detects its card in its rescan work (drivers/mmc/core/core.c), so a host
//     without a card is still probing (an empty SD slot costs the caller's bound).
//
// USB storage is WaitForUSB's, before Storage.
func Probing(sysClass string) []string {
	var probing []string
	controllers, _ := filepath.Glob(filepath.Join(sysClass, "nvme", "nvme*"))
	for _, c := range controllers {
		name := filepath.Base(c)
		state, err := os.ReadFile(filepath.Join(c, "state"))
		if err != nil {
			continue // gone
		}
		// nvme0n1, or nvme0c0n1 for a path of a multipath namespace (NVME_MULTIPATH).
		namespaces, _ := filepath.Glob(filepath.Join(c, name+"n*"))
		paths, _ := filepath.Glob(filepath.Join(c, name+"c*n*"))
		namespaces = append(namespaces, paths...)
		switch st := strings.TrimSpace(string(state)); {
		case st != "live":
			probing = append(probing, fmt.Sprintf("NVMe %s (%s)", name, st))
		case len(namespaces) == 0:
			probing = append(probing, fmt.Sprintf("NVMe %s (no namespace yet)", name))
		}
	}
	hosts, _ := filepath.Glob(filepath.Join(sysClass, "mmc_host", "mmc*"))
	for _, h := range hosts {
		name := filepath.Base(h)
		if cards, _ := filepath.Glob(filepath.Join(h, name+":*")); len(cards) == 0 {
			probing = append(probing, fmt.Sprintf("MMC %s (no card yet)", name))
		}
	}
	return probing
}

// openUevents opens a kernel uevent socket (NETLINK_KOBJECT_UEVENT, the kernel's
// multicast group 1), or returns -1 when it cannot: Wait then polls alone.
func openUevents() int {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_KOBJECT_UEVENT)
	if err != nil {
		return -1
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: 1}); err != nil {
		unix.Close(fd)
		return -1
	}
	return fd
}

// waitUevent sleeps until a uevent arrives on fd (then drains it into buf), PollInterval
// passes, or ctx ends. Any uevent wakes it: Wait looks at sysfs again, which is cheap,
// rather than parsing messages.
func waitUevent(ctx context.Context, fd int, buf []byte) {
	wait := PollInterval
	if deadline, ok := ctx.Deadline(); ok {
		wait = min(wait, max(time.Until(deadline), 0))
	}
	if fd < 0 {
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		return
	}
	unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, int(wait/time.Millisecond))
	for {
		if _, _, err := unix.Recvfrom(fd, buf, unix.MSG_DONTWAIT); err != nil {
			return
		}
	}
}

// Size returns the size in bytes of the block device at dev (BLKGETSIZE64), or of the
// file when dev is a regular file (tests, images).
func Size(dev string) (int64, error) {
	f, err := os.Open(dev)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	if fi.Mode().IsRegular() {
		return fi.Size(), nil
	}
	var size uint64
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), unix.BLKGETSIZE64, uintptr(unsafe.Pointer(&size)))
	if errno != 0 {
		return 0, &os.PathError{Op: "ioctl BLKGETSIZE64", Path: dev, Err: errno}
	}
	return int64(size), nil
}
