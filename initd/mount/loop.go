package mount

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Loop mounts m with, as its source, a free loop device bound read-only to the open file
// backing, and returns m as mounted. Binding the open file, not a path, means the device
// reads the very file the caller opened (and, say, hashed). The device clears itself when
// its last user goes (LO_FLAGS_AUTOCLEAR): once the filesystem is unmounted it is free
// again. The device stays open until the mount holds it, or autoclear would free it in
// between.
func Loop(backing *os.File, m Mount) (Mount, error) {
	loop, err := attachLoop(backing)
	if err != nil {
		return m, err
	}
	defer loop.Close()
	m.Source = loop.Name()
	return m, m.Do()
}

func attachLoop(backing *os.File) (*os.File, error) {
	ctl, err := os.OpenFile("/dev/loop-control", os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("loop devices (CONFIG_BLK_DEV_LOOP): %w", err)
	}
	defer ctl.Close()
	n, err := unix.IoctlRetInt(int(ctl.Fd()), unix.LOOP_CTL_GET_FREE)
	if err != nil {
		return nil, &os.PathError{Op: "ioctl LOOP_CTL_GET_FREE", Path: ctl.Name(), Err: err}
	}
	loop, err := os.OpenFile(fmt.Sprintf("/dev/loop%d", n), os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	if err := unix.IoctlSetInt(int(loop.Fd()), unix.LOOP_SET_FD, int(backing.Fd())); err != nil {
		loop.Close()
		return nil, &os.PathError{Op: "ioctl LOOP_SET_FD " + backing.Name(), Path: loop.Name(), Err: err}
	}
	info := &unix.LoopInfo64{Flags: unix.LO_FLAGS_READ_ONLY | unix.LO_FLAGS_AUTOCLEAR}
	copy(info.File_name[:len(info.File_name)-1], backing.Name())
	if err := unix.IoctlLoopSetStatus64(int(loop.Fd()), info); err != nil {
		unix.IoctlSetInt(int(loop.Fd()), unix.LOOP_CLR_FD, 0)
		loop.Close()
		return nil, &os.PathError{Op: "ioctl LOOP_SET_STATUS64", Path: loop.Name(), Err: err}
	}
	return loop, nil
}
