// Package partition finds Kiln's partitions by GPT partition name (EFI, STATE,
// EPHEMERAL) through sysfs, waits for them to appear, and reports block device sizes.
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

// PollInterval is how often Wait looks again.
const PollInterval = 50 * time.Millisecond

// Wait polls Find until the partition appears, ctx ends (the error then names the
// label and ctx's error), or Find reports something other than "not found".
func Wait(ctx context.Context, sysClassBlock, label string) (string, error) {
	ticker := time.NewTicker(PollInterval)
	defer ticker.Stop()
	for {
		dev, err := Find(sysClassBlock, label)
		if !errors.Is(err, ErrNotFound) {
			return dev, err
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("wait for partition %q: %w (%v)", label, ctx.Err(), err)
		case <-ticker.C:
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
