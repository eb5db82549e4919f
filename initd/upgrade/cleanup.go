package upgrade

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/kiln-os/kiln/bootloader/entry"
	"github.com/kiln-os/kiln/uki/authenticode"
)

// Cleanup runs at boot, before anything else writes to espLinuxDir (the
// mounted ESP's EFI/Linux), and removes what an interrupted Install left:
//
//   - TempName, unless it shares its first cluster with a Kiln UKI (a rename
//     cut between its two directory writes, see the package doc): then it
//     removes nothing and returns ErrCrossLinked (CheckESP), because on
//     Linux deleting either name frees the clusters the other one uses;
//   - a half-written upgrade: a fresh entry ("+3", never tried: systemd-boot
//     renames an entry before it boots it, so it is not the booted one) that
//     is not a whole signed image: empty, not a PE, or whose Authenticode
//     hash or signature does not verify. Whether its signer is trusted is
//     not checked here (Verify did that before the write); an image that is
//     whole but untrusted is left for the firmware to refuse.
//
// It returns the names removed, for machined's event, and fsyncs the
// directory if it removed any.
func Cleanup(espLinuxDir string) ([]string, error) {
	return cleanup(espLinuxDir, firstBlock)
}

func cleanup(dir string, first func(string) (uint64, error)) ([]string, error) {
	entries, err := readKiln(dir)
	if err != nil {
		return nil, err
	}
	var doomed []string
	tmp := filepath.Join(dir, TempName)
	if _, err := os.Lstat(tmp); err == nil {
		for _, e := range entries {
			shared, err := sameChain(tmp, filepath.Join(dir, e.Name()), first)
			if err != nil {
				return nil, err
			}
			if shared {
				return nil, refuse(CheckESP, fmt.Errorf("%w: %s and %s", ErrCrossLinked, TempName, e.Name()))
			}
		}
		doomed = append(doomed, TempName)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	for _, e := range entries {
		if e.Counting && e.Left == entry.FreshTries && e.Done == 0 && halfWritten(filepath.Join(dir, e.Name())) {
			doomed = append(doomed, e.Name())
		}
	}
	return removeAll(dir, doomed)
}

// halfWritten reports a file that is not a whole signed PE image.
func halfWritten(path string) bool {
	b, err := os.ReadFile(path)
	if err != nil || len(b) == 0 {
		return true
	}
	err = authenticode.Verify(b, nil) // no roots: everything but the trust chain
	return !errors.Is(err, authenticode.ErrUntrusted)
}

// sameChain reports whether two files may be two names of one cluster chain.
// Two files of different sizes are not (the rename's second entry gets the
// size with the first cluster). Otherwise first() decides where it works
// (FIBMAP on vfat); where it does not (tests on tmpfs, or without
// CAP_SYS_RAWIO), equal contents count as shared, erring toward deleting
// nothing.
func sameChain(a, b string, first func(string) (uint64, error)) (bool, error) {
	fa, err := os.Stat(a)
	if err != nil {
		return false, err
	}
	fb, err := os.Stat(b)
	if err != nil {
		return false, err
	}
	if fa.Size() != fb.Size() {
		return false, nil
	}
	ba, errA := first(a)
	bb, errB := first(b)
	if errA == nil && errB == nil && ba != 0 {
		return ba == bb, nil
	}
	ca, err := os.ReadFile(a)
	if err != nil {
		return false, err
	}
	cb, err := os.ReadFile(b)
	if err != nil {
		return false, err
	}
	return bytes.Equal(ca, cb), nil
}

// fibmap is FIBMAP, _IO(0x00, 1): the physical block of a file's logical
// block. vfat implements it (fat_bmap), so block 0 names the first cluster.
const fibmap = 1

// firstBlock returns the device block holding the first block of path's
// data; it needs CAP_SYS_RAWIO.
func firstBlock(path string) (uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var block int32
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, f.Fd(), fibmap, uintptr(unsafe.Pointer(&block))); e != 0 {
		return 0, &fs.PathError{Op: "ioctl FIBMAP", Path: path, Err: e}
	}
	return uint64(uint32(block)), nil
}
