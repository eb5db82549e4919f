package efivar

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/kiln-os/kiln/internal/guid"
)

// efivarfsMagic is EFIVARFS_MAGIC (include/uapi/linux/magic.h).
const efivarfsMagic = 0xde5e81e4

// fsImmutable is FS_IMMUTABLE_FL (include/uapi/linux/fs.h).
const fsImmutable = 0x10

// Write sets the variable name/vendor to data with attrs in an efivarfs directory.
// The file is the 4-byte little-endian attribute word followed by the value, given to
// the kernel in one write(2): efivarfs sets the variable from one write or not at all
// (Documentation/filesystems/efivarfs.rst), so a reader sees the old or the new value.
//
// efivarfs marks most existing variable files immutable (chattr +i) so that a stray
// write cannot brick a machine; Write clears the flag on the file it replaces, as
// efibootmgr does through libefivar. In a directory that is not efivarfs (tests) the
// file is truncated first, as a new efivarfs write replaces the whole value.
func Write(dir, name string, vendor guid.GUID, attrs uint32, data []byte) error {
	if name == "" || strings.ContainsAny(name, "/\x00") {
		return fmt.Errorf("efivar: invalid variable name %q", name)
	}
	if attrs&AttrAppendWrite != 0 {
		return fmt.Errorf("efivar: %s: Write replaces a value; append writes are not supported", name)
	}
	path := filepath.Join(dir, name+"-"+vendor.String())
	if err := clearImmutable(path); err != nil {
		return err
	}
	flags := os.O_WRONLY | os.O_CREATE
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return &fs.PathError{Op: "statfs", Path: dir, Err: err}
	}
	if uint32(st.Type) != efivarfsMagic {
		flags |= os.O_TRUNC
	}
	f, err := os.OpenFile(path, flags, 0o644)
	if err != nil {
		return err
	}
	buf := binary.LittleEndian.AppendUint32(make([]byte, 0, 4+len(data)), attrs)
	buf = append(buf, data...)
	n, werr := unix.Write(int(f.Fd()), buf)
	cerr := f.Close()
	switch {
	case werr != nil:
		return &fs.PathError{Op: "write", Path: path, Err: werr}
	case n != len(buf):
		return &fs.PathError{Op: "write", Path: path, Err: fmt.Errorf("%d of %d bytes written", n, len(buf))}
	}
	return cerr
}

// clearImmutable drops FS_IMMUTABLE_FL from an existing file. A missing file has no
// flag, and a file system without flags (ENOTTY, EOPNOTSUPP: tmpfs in tests) has none
// to clear.
func clearImmutable(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	flags, err := unix.IoctlGetUint32(int(f.Fd()), unix.FS_IOC_GETFLAGS)
	if errors.Is(err, unix.ENOTTY) || errors.Is(err, unix.EOPNOTSUPP) {
		return nil
	}
	if err != nil {
		return &fs.PathError{Op: "ioctl FS_IOC_GETFLAGS", Path: path, Err: err}
	}
	if flags&fsImmutable == 0 {
		return nil
	}
	if err := unix.IoctlSetPointerInt(int(f.Fd()), unix.FS_IOC_SETFLAGS, int(flags&^fsImmutable)); err != nil {
		return &fs.PathError{Op: "ioctl FS_IOC_SETFLAGS", Path: path, Err: err}
	}
	return nil
}
