package ext4

import (
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ioctlResizeFS is EXT4_IOC_RESIZE_FS, _IOW('f', 16, __u64) in linux/fs/ext4/ext4.h: the
// argument is the new size in filesystem blocks, and the call grows a mounted filesystem
// online (adding group descriptors as needed, converting to meta_bg when no reserved GDT
// blocks are left).
const ioctlResizeFS = 0x40086610

// Grow extends the ext4 filesystem mounted at mountpoint to newSizeBytes (rounded down to
// whole blocks). The device underneath must already be that large. Shrinking is refused
// by the kernel; asking for the current size is a no-op.
func Grow(mountpoint string, newSizeBytes int64) error {
	var st unix.Statfs_t
	if err := unix.Statfs(mountpoint, &st); err != nil {
		return &os.PathError{Op: "statfs", Path: mountpoint, Err: err}
	}
	if st.Type != unix.EXT4_SUPER_MAGIC {
		return fmt.Errorf("grow %s: not an ext4 mount (filesystem type %#x)", mountpoint, st.Type)
	}
	blocks := uint64(newSizeBytes) / uint64(st.Bsize)
	dir, err := os.Open(mountpoint)
	if err != nil {
		return err
	}
	defer dir.Close()
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, dir.Fd(), ioctlResizeFS, uintptr(unsafe.Pointer(&blocks)))
	if errno != 0 {
		return fmt.Errorf("grow %s to %d blocks of %d bytes: %w", mountpoint, blocks, st.Bsize,
			&os.PathError{Op: "ioctl EXT4_IOC_RESIZE_FS", Path: mountpoint, Err: errno})
	}
	return nil
}
