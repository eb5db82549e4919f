package install

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Disk is a whole disk as sysfs describes it.
type Disk struct {
	Name       string // kernel name: vda, sda, nvme0n1
	Path       string // device node: /dev/vda
	Size       int64  // bytes
	SectorSize int64  // logical block size (queue/logical_block_size); 0 if unknown
	Model      string // device/model
	Serial     string // serial (virtio) or device/serial
	WWID       string // wwid or device/wwid
	DeviceName string // device/name (MMC/SD cards); Talos's diskSelector.name
	Type       string // ssd, hdd, nvme or sd
	// BusPath is where the disk hangs in the device tree: the target of /sys/block/<name>
	// below /sys/devices, without the trailing /block/<name>, as Talos's busPath:
	// /pci0000:00/0000:00:04.0/virtio2 for a virtio disk.
	BusPath   string
	ReadOnly  bool
	Removable bool
}

func (d Disk) String() string {
	return fmt.Sprintf("%s (%s, %d bytes, model %q, serial %q, bus %s)", d.Path, d.Type, d.Size, d.Model, d.Serial, d.BusPath)
}

// notDisks are the /sys/block name prefixes that are never install targets: loop and
// RAM disks, device-mapper and md volumes (made from disks, not disks), zram, network
// block devices, floppies, and optical drives (a CD is read-only and is the live
// medium when it is there at all).
var notDisks = []string{"loop", "ram", "dm-", "md", "zram", "nbd", "fd", "sr"}

// ListDisks lists the whole disks in sysBlock (/sys/block; partitions are not there)
// with their device nodes in devDir (/dev), sorted by name.
func ListDisks(sysBlock, devDir string) ([]Disk, error) {
	entries, err := os.ReadDir(sysBlock)
	if err != nil {
		return nil, err
	}
	var disks []Disk
	for _, e := range entries {
		name := e.Name()
		if slices.ContainsFunc(notDisks, func(p string) bool { return strings.HasPrefix(name, p) }) {
			continue
		}
		d, err := readDisk(filepath.Join(sysBlock, name), name)
		if err != nil {
			return nil, fmt.Errorf("disk %s: %w", name, err)
		}
		d.Path = filepath.Join(devDir, name)
		disks = append(disks, d)
	}
	return disks, nil
}

// readDisk reads one /sys/block/<name> directory (Documentation/ABI/stable/sysfs-block).
func readDisk(dir, name string) (Disk, error) {
	d := Disk{Name: name}
	sectors, err := readUint(filepath.Join(dir, "size")) // always 512-byte units
	if err != nil {
		return d, err
	}
	d.Size = int64(sectors) * 512
	ro, err := readUint(filepath.Join(dir, "ro"))
	if err != nil {
		return d, err
	}
	removable, err := readUint(filepath.Join(dir, "removable"))
	if err != nil {
		return d, err
	}
	d.ReadOnly, d.Removable = ro != 0, removable != 0
	d.Model = readAttr(dir, "device/model")
	d.Serial = readAttr(dir, "serial", "device/serial")
	d.WWID = readAttr(dir, "wwid", "device/wwid")
	d.DeviceName = readAttr(dir, "device/name")
	if lbs, err := readUint(filepath.Join(dir, "queue/logical_block_size")); err == nil {
		d.SectorSize = int64(lbs)
	}
	d.Type = diskType(dir, name)
	d.BusPath = busPath(dir, name)
	return d, nil
}

func readUint(path string) (uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 63)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return n, nil
}

// readAttr returns the first of the attributes that exists, trimmed; "" if none does
// (most are optional: a virtio disk has no model, a SATA disk no serial attribute).
func readAttr(dir string, names ...string) string {
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err == nil {
			return strings.TrimSpace(string(b))
		}
	}
	return ""
}

func diskType(dir, name string) string {
	switch {
	case strings.HasPrefix(name, "nvme"):
		return "nvme"
	case strings.HasPrefix(name, "mmcblk"):
		return "sd"
	}
	if rot, err := readUint(filepath.Join(dir, "queue/rotational")); err == nil && rot == 0 {
		return "ssd"
	}
	return "hdd"
}

// busPath resolves /sys/block/<name> (a symlink to ../devices/…/block/<name>) and
// returns the part below "devices" without /block/<name>; "" if it is not a symlink.
func busPath(dir, name string) string {
	target, err := os.Readlink(dir)
	if err != nil {
		return ""
	}
	target = filepath.ToSlash(target)
	_, below, ok := strings.Cut(target, "/devices/")
	if !ok {
		return ""
	}
	return "/" + strings.TrimSuffix(below, "/block/"+name)
}

// ErrNoDisk: the config matches no disk, or more than one.
var ErrNoDisk = errors.New("install: no single target disk")

// ErrRefusedDisk: the config names a disk the installer must not write.
var ErrRefusedDisk = errors.New("install: disk refused")
