package dm

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// Create makes the mapped device name with the given uuid and table, activates it, and
// returns /dev/mapper/<name>. On any failure after the device exists it is removed
// again, so a failed Create leaves nothing behind.
func Create(name, uuid string, targets []Target) (string, error) {
	if len(targets) == 0 {
		return "", errors.New("dm: a device needs at least one target")
	}
	created, err := call(cmdDevCreate, request{name: name, uuid: uuid})
	if err != nil {
		return "", fmt.Errorf("dm create %s: %w", name, err)
	}
	path, err := activate(name, targets, created.dev)
	if err != nil {
		if _, rmErr := call(cmdDevRemove, request{name: name}); rmErr != nil {
			return "", errors.Join(err, fmt.Errorf("dm remove %s after failed create: %w", name, rmErr))
		}
		return "", err
	}
	return path, nil
}

func activate(name string, targets []Target, dev uint64) (string, error) {
	if _, err := call(cmdTableLoad, request{name: name, targets: targets}); err != nil {
		return "", fmt.Errorf("dm load table of %s (%v): %w", name, targets, err)
	}
	// DM_DEV_SUSPEND without DM_SUSPEND_FLAG resumes: it swaps the loaded table in.
	if _, err := call(cmdDevSuspend, request{name: name}); err != nil {
		return "", fmt.Errorf("dm resume %s: %w", name, err)
	}
	return makeNodes(name, dev)
}

// makeNodes ensures /dev/dm-N exists (devtmpfs normally made it) and makes
// /dev/mapper/<name> a block node of the same device, the stable path callers use.
func makeNodes(name string, dev uint64) (string, error) {
	minor := unix.Minor(dev)
	if err := ensureBlockNode(filepath.Join(DevDir, "dm-"+strconv.FormatUint(uint64(minor), 10)), dev); err != nil {
		return "", err
	}
	if err := os.MkdirAll(MapperDir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(MapperDir, name)
	return path, ensureBlockNode(path, dev)
}

// ensureBlockNode leaves a block node with the right dev_t alone and replaces anything
// else at path.
func ensureBlockNode(path string, dev uint64) error {
	var st unix.Stat_t
	err := unix.Stat(path, &st)
	if err == nil && st.Mode&unix.S_IFMT == unix.S_IFBLK && st.Rdev == dev {
		return nil
	}
	if err == nil {
		if err := os.Remove(path); err != nil {
			return err
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return &os.PathError{Op: "stat", Path: path, Err: err}
	}
	if err := unix.Mknod(path, unix.S_IFBLK|0o600, int(dev)); err != nil {
		return &os.PathError{Op: "mknod", Path: path, Err: err}
	}
	return nil
}

// Remove deactivates and deletes the mapped device name and its /dev/mapper node. The
// kernel refuses (EBUSY) while the device is mounted or open.
func Remove(name string) error {
	if _, err := call(cmdDevRemove, request{name: name}); err != nil {
		return fmt.Errorf("dm remove %s: %w", name, err)
	}
	if err := os.Remove(filepath.Join(MapperDir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
