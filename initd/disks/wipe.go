package disks

import (
	"errors"
	"fmt"
	"os"
	"unsafe"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/kiln-os/kiln/initd/events"
	"github.com/kiln-os/kiln/initd/storage/partition"
	"github.com/kiln-os/kiln/initd/storage/stateheader"
)

// errNoDiscard says the device cannot discard: its data area was left as it was.
var errNoDiscard = errors.New("disks: the device does not support discard")

// Wipe destroys what a Reset asked for, after everything is unmounted. Each partition's
// header area is overwritten with zeroes: for STATE that is both header copies and the
// sealed key, which alone makes encrypted data unreadable; for EPHEMERAL its superblock.
// The rest is discarded rather than overwritten, which would take minutes per gigabyte at
// shutdown: a plain (no TPM) STATE and EPHEMERAL hold data in clear there. A device
// without discard keeps that data, and the event says so.
func Wipe(log logrus.FieldLogger, emit func(events.Event), state, ephemeral bool) {
	var labels []string
	if state {
		labels = append(labels, labelState)
	}
	if ephemeral {
		labels = append(labels, labelEphemeral)
	}
	for _, label := range labels {
		wipeLabel(log.WithField("partition", label), emit, label)
	}
}

func wipeLabel(log logrus.FieldLogger, emit func(events.Event), label string) {
	dev, err := partition.Find(partition.SysClassBlock, label)
	if err == nil {
		err = wipeDevice(dev)
	}
	data := "discarded"
	switch {
	case errors.Is(err, errNoDiscard):
		log.WithError(err).Warn("reset: header area zeroed; the data area could not be discarded and still holds its blocks")
		data = "kept"
	case err != nil:
		log.WithError(err).Error("reset: wipe")
		return
	}
	emit(events.Event{Type: events.TypeInfo, Name: "reset", State: "wiped", Fields: map[string]string{"partition": label, "data": data}})
}

// wipeDevice zeroes dev's header area and syncs it, then discards everything behind it.
// The header goes first so that an interrupted wipe has already destroyed the key.
func wipeDevice(dev string) error {
	size, err := partition.Size(dev)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(dev, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.WriteAt(make([]byte, min(size, stateheader.AreaSize)), 0); err != nil {
		return err
	}
	if err := unix.Fsync(int(f.Fd())); err != nil {
		return &os.PathError{Op: "fsync", Path: dev, Err: err}
	}
	if size <= stateheader.AreaSize {
		return nil
	}
	return discard(f, stateheader.AreaSize, size-stateheader.AreaSize)
}

// discard drops n bytes at off: BLKDISCARD on a block device, a punched hole in a
// regular file (an image, and the tests).
func discard(f *os.File, off, n int64) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	op, err := "ioctl BLKDISCARD", error(nil)
	if fi.Mode().IsRegular() {
		op, err = "fallocate punch hole", unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, n)
	} else {
		span := [2]uint64{uint64(off), uint64(n)}
		if _, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), unix.BLKDISCARD, uintptr(unsafe.Pointer(&span[0]))); errno != 0 {
			err = errno
		}
	}
	switch {
	case errors.Is(err, unix.EOPNOTSUPP):
		return fmt.Errorf("%s %s: %w: %w", op, f.Name(), errNoDiscard, err)
	case err != nil:
		return &os.PathError{Op: op, Path: f.Name(), Err: err}
	}
	return nil
}
