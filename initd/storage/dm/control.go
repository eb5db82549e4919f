package dm

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Where device-mapper lives. Variables so the root-only test can point elsewhere.
var (
	MapperDir   = "/dev/mapper"
	DevDir      = "/dev"
	ControlPath = "/dev/mapper/control"
	procMisc    = "/proc/misc"
)

// miscMajor is the major number of misc devices (include/uapi/linux/major.h MISC_MAJOR).
const miscMajor = 10

// call runs one device-mapper ioctl and zeroes the buffer afterwards: it may hold a key.
func call(cmd uint32, req request) (reply, error) {
	buf, err := req.encode()
	if err != nil {
		return reply{}, err
	}
	defer clear(buf)
	ctl, err := openControl()
	if err != nil {
		return reply{}, err
	}
	defer ctl.Close()
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, ctl.Fd(), ioctlNumber(cmd), uintptr(unsafe.Pointer(&buf[0])))
	if errno != 0 {
		return reply{}, errno
	}
	r := decodeReply(buf)
	if r.flags&flagBufferFull != 0 {
		return r, errors.New("dm: reply did not fit the ioctl buffer")
	}
	return r, nil
}

// openControl opens /dev/mapper/control, creating the node from /proc/misc when
// devtmpfs has not.
func openControl() (*os.File, error) {
	f, err := os.OpenFile(ControlPath, os.O_RDWR|unix.O_CLOEXEC, 0)
	if !errors.Is(err, fs.ErrNotExist) {
		return f, err
	}
	minor, err := controlMinor(procMisc)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(ControlPath), 0o755); err != nil {
		return nil, err
	}
	if err := unix.Mknod(ControlPath, unix.S_IFCHR|0o600, int(unix.Mkdev(miscMajor, minor))); err != nil && !errors.Is(err, unix.EEXIST) {
		return nil, &os.PathError{Op: "mknod", Path: ControlPath, Err: err}
	}
	return os.OpenFile(ControlPath, os.O_RDWR|unix.O_CLOEXEC, 0)
}

// controlMinor finds device-mapper's misc minor ("236 device-mapper") in /proc/misc.
func controlMinor(procMiscPath string) (uint32, error) {
	data, err := os.ReadFile(procMiscPath)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 2 && fields[1] == "device-mapper" {
			minor, err := strconv.ParseUint(fields[0], 10, 32)
			if err != nil {
				return 0, fmt.Errorf("%s: bad device-mapper line %q", procMiscPath, line)
			}
			return uint32(minor), nil
		}
	}
	return 0, fmt.Errorf("%s has no device-mapper: the kernel needs CONFIG_BLK_DEV_DM (and CONFIG_DM_CRYPT for STATE)", procMiscPath)
}
