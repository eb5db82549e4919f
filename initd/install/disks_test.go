package install

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-os/kiln/config"
)

// fakeSysfs lays out /sys/devices and /sys/block as the kernel does: block entries are
// symlinks into the device tree.
func fakeSysfs(t *testing.T) string {
	t.Helper()
	sys := t.TempDir()
	type dev struct {
		name, devPath string
		attrs         map[string]string
	}
	for _, d := range []dev{
		{"vda", "pci0000:00/0000:00:04.0/virtio2", map[string]string{"size": "6291456\n", "serial": "KILN-A\n", "queue/rotational": "1\n"}},
		{"sda", "pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0", map[string]string{"size": "41943040\n", "device/model": "QEMU HARDDISK   \n", "wwid": "t10.ATA QEMU HARDDISK QM00001\n", "queue/rotational": "0\n"}},
		{"nvme0n1", "pci0000:00/0000:00:05.0/nvme/nvme0", map[string]string{"size": "20971520\n", "device/model": "Samsung SSD 990\n", "device/serial": "S6Z\n", "queue/rotational": "0\n"}},
		{"sdb", "pci0000:00/0000:00:1d.0/usb2/2-1/2-1:1.0/host6/target6:0:0/6:0:0:0", map[string]string{"size": "15269888\n", "removable": "1\n", "device/model": "Flash Disk\n", "queue/rotational": "1\n"}},
		{"sdc", "pci0000:00/0000:00:1f.2/ata2/host1/target1:0:0/1:0:0:0", map[string]string{"size": "2097152\n", "device/model": "SMALL\n"}},
		{"sdd", "pci0000:00/0000:00:1f.2/ata3/host2/target2:0:0/2:0:0:0", map[string]string{"size": "41943040\n", "ro": "1\n", "device/model": "WORM\n"}},
		{"sde", "pci0000:00/0000:00:1f.2/ata5/host4/target4:0:0/4:0:0:0", map[string]string{"size": "41943040\n", "queue/logical_block_size": "4096\n", "device/model": "4KN\n"}},
		{"mmcblk0", "platform/fe320000.mmc/mmc_host/mmc0/mmc0:aaaa", map[string]string{"size": "62333952\n", "device/name": "SC64G\n"}},
		{"sr0", "pci0000:00/0000:00:1f.2/ata4/host3/target3:0:0/3:0:0:0", map[string]string{"size": "2097152\n", "ro": "1\n"}},
		{"loop0", "virtual", map[string]string{"size": "100\n"}},
		{"dm-0", "virtual", map[string]string{"size": "100\n"}},
	} {
		dir := filepath.Join(sys, "devices", d.devPath, "block", d.name)
		files := map[string]string{"ro": "0\n", "removable": "0\n"}
		for k, v := range d.attrs {
			files[k] = v
		}
		for name, v := range files {
			p := filepath.Join(dir, name)
			if strings.HasPrefix(name, "device/") {
				p = filepath.Join(sys, "devices", d.devPath, strings.TrimPrefix(name, "device/"))
			}
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(v), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Symlink(filepath.Join(sys, "devices", d.devPath), filepath.Join(dir, "device")); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(sys, "block"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join("..", "devices", d.devPath, "block", d.name), filepath.Join(sys, "block", d.name)); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(sys, "block")
}

func TestListDisks(t *testing.T) {
	disks, err := ListDisks(fakeSysfs(t), "/dev")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range disks {
		names = append(names, d.Name)
	}
	if got := strings.Join(names, " "); got != "mmcblk0 nvme0n1 sda sdb sdc sdd sde vda" {
		t.Errorf("disks %s", got)
	}
	want := map[string]Disk{
		"vda":     {Name: "vda", Path: "/dev/vda", Size: 3 << 30, Serial: "KILN-A", Type: "hdd", BusPath: "/pci0000:00/0000:00:04.0/virtio2"},
		"sda":     {Name: "sda", Path: "/dev/sda", Size: 20 << 30, Model: "QEMU HARDDISK", WWID: "t10.ATA QEMU HARDDISK QM00001", Type: "ssd", BusPath: "/pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0"},
		"nvme0n1": {Name: "nvme0n1", Path: "/dev/nvme0n1", Size: 10 << 30, Model: "Samsung SSD 990", Serial: "S6Z", Type: "nvme", BusPath: "/pci0000:00/0000:00:05.0/nvme/nvme0"},
		"mmcblk0": {Name: "mmcblk0", Path: "/dev/mmcblk0", Size: 62333952 * 512, DeviceName: "SC64G", Type: "sd", BusPath: "/platform/fe320000.mmc/mmc_host/mmc0/mmc0:aaaa"},
		"sdd":     {Name: "sdd", Path: "/dev/sdd", Size: 20 << 30, Model: "WORM", Type: "hdd", BusPath: "/pci0000:00/0000:00:1f.2/ata3/host2/target2:0:0/2:0:0:0", ReadOnly: true},
	}
	for _, d := range disks {
		if w, ok := want[d.Name]; ok && d != w {
			t.Errorf("%s:\n got %+v\nwant %+v", d.Name, d, w)
		}
	}
}

func TestSelect(t *testing.T) {
	disks, err := ListDisks(fakeSysfs(t), "/dev")
	if err != nil {
		t.Fatal(err)
	}
	const boot = "/dev/sdb" // the live USB stick
	for _, tc := range []struct {
		name string
		in   config.Install
		want string // the disk's path, or the error's text
	}{
		{"disk", config.Install{Disk: "/dev/vda"}, "/dev/vda"},
		{"disk missing", config.Install{Disk: "/dev/vdz"}, "install.disk /dev/vdz is not a disk here; disks: /dev/mmcblk0"},
		{"boot medium", config.Install{Disk: "/dev/sdb"}, "/dev/sdb holds the live boot medium"},
		{"read-only", config.Install{Disk: "/dev/sdd"}, "/dev/sdd is read-only"},
		{"too small", config.Install{Disk: "/dev/sdc"}, "/dev/sdc is 1073741824 bytes, under"},
		{"4Kn", config.Install{Disk: "/dev/sde"}, "/dev/sde has 4096-byte logical sectors"},
		{"model glob", config.Install{DiskSelector: config.DiskSelector{Model: "QEMU*"}}, "/dev/sda"},
		{"serial", config.Install{DiskSelector: config.DiskSelector{Serial: "KILN-A"}}, "/dev/vda"},
		{"type", config.Install{DiskSelector: config.DiskSelector{Type: "nvme"}}, "/dev/nvme0n1"},
		{"name", config.Install{DiskSelector: config.DiskSelector{Name: "SC*"}}, "/dev/mmcblk0"},
		{"wwid", config.Install{DiskSelector: config.DiskSelector{WWID: "t10.*"}}, "/dev/sda"},
		{"busPath", config.Install{DiskSelector: config.DiskSelector{BusPath: "/pci0000:00/0000:00:04.0/*"}}, "/dev/vda"},
		{"size exact", config.Install{DiskSelector: config.DiskSelector{Size: "10GiB"}}, "/dev/nvme0n1"},
		{"size and type", config.Install{DiskSelector: config.DiskSelector{Size: ">= 15GB", Type: "ssd"}}, "/dev/sda"},
		{"size skips refused", config.Install{DiskSelector: config.DiskSelector{Size: "< 5GB"}}, "/dev/vda"},
		{"ambiguous", config.Install{DiskSelector: config.DiskSelector{Size: ">= 4GB"}}, "matches 3 disks: /dev/mmcblk0"},
		{"only refused", config.Install{DiskSelector: config.DiskSelector{Model: "WORM"}}, "matches 0 disks; refused: /dev/sdd is read-only"},
		{"nothing", config.Install{DiskSelector: config.DiskSelector{Serial: "nope"}}, "matches 0 disks; disks: "},
		{"no install", config.Install{Wipe: true}, "names no disk"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := Select(disks, tc.in, boot)
			if !strings.HasPrefix(tc.want, "/dev/") || strings.Contains(tc.want, " ") {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("got %v, %v; want an error containing %q", d, err, tc.want)
				}
				if !errors.Is(err, ErrNoDisk) && !errors.Is(err, ErrRefusedDisk) {
					t.Errorf("error %v is neither ErrNoDisk nor ErrRefusedDisk", err)
				}
				return
			}
			if err != nil || d.Path != tc.want {
				t.Errorf("got %v, %v; want %s", d.Path, err, tc.want)
			}
		})
	}
}
