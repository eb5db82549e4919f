// Package ext4 makes and grows the ext4 filesystems of STATE and EPHEMERAL without any
// host tool: Format writes a fresh filesystem with go-diskfs's ext4 writer (journal on,
// labelled, random UUID), Grow extends a mounted one with the kernel's online resize.
//
// It is node-side. It formats exactly the device it is given and never decides whether a
// device should be formatted: that choice (and the promise never to reformat STATE)
// belongs to the caller, initd/storage.
package ext4

import (
	"errors"
	"fmt"
	"os"

	"github.com/diskfs/go-diskfs/backend/file"
	diskfsext4 "github.com/diskfs/go-diskfs/filesystem/ext4"
)

// MaxLabel is the size of s_volume_name in the ext4 superblock.
const MaxLabel = 16

// MinSize is the smallest filesystem Format makes: below it the journal (4 MiB minimum
// in go-diskfs) leaves no room for data.
const MinSize = 16 << 20

// Format writes an empty ext4 filesystem of size bytes at the start of devPath (a block
// device or a regular file), with an internal journal and the given label. The UUID is
// random: these are per-machine filesystems, and unique UUIDs keep two disks moved into
// one machine apart.
//
// The device is opened O_EXCL, so a block device that is mounted or held by device-mapper
// is refused by the kernel instead of being overwritten.
func Format(devPath string, size int64, label string) error {
	if len(label) > MaxLabel {
		return fmt.Errorf("ext4 label %q is longer than %d bytes", label, MaxLabel)
	}
	if size < MinSize {
		return fmt.Errorf("format %s: size %d is below the %d bytes an ext4 filesystem with a journal needs", devPath, size, MinSize)
	}
	f, err := os.OpenFile(devPath, os.O_RDWR|os.O_EXCL, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	params := &diskfsext4.Params{
		VolumeName: label,
		Features:   []diskfsext4.FeatureOpt{diskfsext4.WithFeatureHasJournal(true)},
	}
	if _, err := diskfsext4.Create(file.New(f, false), size, 0, 512, params); err != nil {
		return fmt.Errorf("format %s: %w", devPath, err)
	}
	if err := f.Sync(); err != nil {
		return &os.PathError{Op: "fsync", Path: devPath, Err: err}
	}
	return f.Close()
}

// ErrNotExt4 is returned by ReadSuperblock for a device without the ext4 magic.
var ErrNotExt4 = errors.New("ext4: no ext4 superblock")
