package diag

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/kiln-os/kiln/api/machine"
)

// sectorSize is the unit of sysfs's size files, whatever the device's own sector size.
const sectorSize = 512

// Disks lists the whole block devices of r.Sys/class/block with a size, each with its
// partitions (the subdirectories that have a "partition" file). The disk that holds the
// partition named r.ESPLabel is the boot disk: machined finds the ESP it upgrades by that
// name too (partition.Find), and refuses to guess when two disks carry it, so neither is
// marked then.
func (r Roots) Disks() ([]*machine.DiskInfo, error) {
	dir := filepath.Join(r.Sys, "class", "block")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var disks []*machine.DiskInfo
	var boot []*machine.DiskInfo
	for _, e := range entries {
		path := filepath.Join(dir, e.Name())
		if exists(filepath.Join(path, "partition")) {
			continue
		}
		d := readDisk(path, e.Name())
		if d.SizeBytes == 0 {
			continue // an unused loop or ram device
		}
		for _, p := range d.Partitions {
			if r.ESPLabel != "" && p.Label == r.ESPLabel {
				boot = append(boot, d)
				break
			}
		}
		disks = append(disks, d)
	}
	if len(boot) == 1 {
		boot[0].Boot = true
	}
	return disks, nil
}

func readDisk(path, name string) *machine.DiskInfo {
	d := &machine.DiskInfo{
		Name:      name,
		SizeBytes: readUint(filepath.Join(path, "size")) * sectorSize,
		Model:     readString(filepath.Join(path, "device", "model")),
		ReadOnly:  readUint(filepath.Join(path, "ro")) == 1,
	}
	subs, _ := os.ReadDir(path)
	for _, s := range subs {
		sub := filepath.Join(path, s.Name())
		if !exists(filepath.Join(sub, "partition")) {
			continue
		}
		d.Partitions = append(d.Partitions, &machine.PartitionInfo{
			Name:      s.Name(),
			Number:    uint32(readUint(filepath.Join(sub, "partition"))),
			Label:     ueventValue(filepath.Join(sub, "uevent"), "PARTNAME"),
			SizeBytes: readUint(filepath.Join(sub, "size")) * sectorSize,
		})
	}
	return d
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// readString is a sysfs attribute without its newline; "" when it cannot be read.
func readString(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(data))
}

func readUint(path string) uint64 {
	v, _ := strconv.ParseUint(readString(path), 10, 64)
	return v
}

func ueventValue(path, key string) string {
	for _, line := range strings.Split(readString(path), "\n") {
		if v, ok := strings.CutPrefix(line, key+"="); ok {
			return v
		}
	}
	return ""
}
