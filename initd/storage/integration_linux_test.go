package storage

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/kiln-os/kiln/initd/storage/dm"
	"github.com/kiln-os/kiln/initd/storage/internal/looptest"
)

// loopMapper stands in for dm-linear where the kernel has no device-mapper: it maps
// the first target's offset and length with a loop device. The key is ignored, so it
// proves the orchestration on real block devices and mounts, not the encryption
// (TestStateWithDeviceMapper does that when device-mapper is there).
type loopMapper struct {
	t       *testing.T
	backing string
	devs    map[string]string
}

func (l *loopMapper) Create(name, _ string, targets []dm.Target) (string, error) {
	fields := strings.Fields(string(targets[0].Params))
	offset, _ := strconv.ParseUint(fields[len(fields)-1], 10, 64)
	dev := looptest.Attach(l.t, l.backing, "--offset", strconv.FormatUint(offset*512, 10),
		"--sizelimit", strconv.FormatUint(targets[0].Length*512, 10))
	l.devs[name] = dev
	return dev, nil
}

func (l *loopMapper) Remove(name string) error {
	return exec.Command("losetup", "--detach", l.devs[name]).Run()
}

// mountOptions returns the options of the mount at target from /proc/self/mounts.
func mountOptions(t *testing.T, target string) string {
	f, err := os.Open("/proc/self/mounts")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 4 && fields[1] == target {
			return fields[2] + " " + fields[3]
		}
	}
	t.Fatalf("%s is not mounted", target)
	return ""
}

func TestStateOnLoopDevice(t *testing.T) {
	img := looptest.SparseFile(t, "state.img", 64<<20)
	device := looptest.Attach(t, img)
	mnt := filepath.Join(t.TempDir(), "state")
	s := &State{Device: device, Sealer: &fakeSealer{}, MapperName: "kiln-test-state", Mountpoint: mnt,
		mapper: &loopMapper{t: t, backing: device, devs: map[string]string{}}}
	res, err := s.Open(ctx)
	if err != nil || !res.Created {
		t.Fatalf("first open: %+v, %v", res, err)
	}
	if opts := mountOptions(t, mnt); !strings.HasPrefix(opts, "ext4 rw,nosuid,nodev,noexec") {
		t.Errorf("STATE mounted %q", opts)
	}
	os.WriteFile(filepath.Join(mnt, "config.yaml"), []byte("version: v1alpha1\n"), 0o600)
	unmount(t, mnt)
	s.mapper.Remove(s.MapperName)

	res, err = s.Open(ctx)
	if err != nil || res.Created {
		t.Fatalf("second open: %+v, %v", res, err)
	}
	defer unmount(t, mnt)
	if data, _ := os.ReadFile(filepath.Join(mnt, "config.yaml")); string(data) != "version: v1alpha1\n" {
		t.Errorf("config after reopen: %q", data)
	}
}

func unmount(t *testing.T, mnt string) {
	if err := unix.Unmount(mnt, 0); err != nil && err != unix.EINVAL {
		t.Errorf("unmount %s: %v", mnt, err)
	}
}

func TestStateWithDeviceMapper(t *testing.T) {
	looptest.RequireRoot(t)
	if _, err := os.Stat(dm.ControlPath); err != nil {
		if misc, _ := os.ReadFile("/proc/misc"); !strings.Contains(string(misc), "device-mapper") {
			t.Skip("this kernel has no device-mapper (no /dev/mapper/control, none in /proc/misc): needs CONFIG_BLK_DEV_DM and CONFIG_DM_CRYPT")
		}
	}
	device := looptest.Attach(t, looptest.SparseFile(t, "state.img", 64<<20))
	mnt := filepath.Join(t.TempDir(), "state")
	s := &State{Device: device, Sealer: &fakeSealer{}, MapperName: "kiln-test-state-dm", Mountpoint: mnt}
	if res, err := s.Open(ctx); err != nil || !res.Created || res.Mode != "sealed" {
		t.Fatalf("first open: %+v, %v", res, err)
	}
	os.WriteFile(filepath.Join(mnt, "secret"), []byte("kiln-plaintext-marker"), 0o600)
	unmount(t, mnt)
	if err := dm.Remove(s.MapperName); err != nil {
		t.Fatal(err)
	}
	if raw, _ := os.ReadFile(device); strings.Contains(string(raw), "kiln-plaintext-marker") {
		t.Error("plaintext on the STATE partition")
	}
	if res, err := s.Open(ctx); err != nil || res.Created {
		t.Fatalf("second open: %+v, %v", res, err)
	}
	defer dm.Remove(s.MapperName)
	defer unmount(t, mnt)
	if data, _ := os.ReadFile(filepath.Join(mnt, "secret")); string(data) != "kiln-plaintext-marker" {
		t.Errorf("file after reopen: %q", data)
	}
}

func TestEphemeralOnLoopDevice(t *testing.T) {
	img := looptest.SparseFile(t, "ephemeral.img", 64<<20)
	device := looptest.Attach(t, img)
	mnt := filepath.Join(t.TempDir(), "var")
	e := &Ephemeral{Device: device, Mountpoint: mnt}
	if res, err := e.Open(ctx); err != nil || !res.Formatted {
		t.Fatalf("first open: %+v, %v", res, err)
	}
	if opts := mountOptions(t, mnt); !strings.HasPrefix(opts, "ext4 rw,nosuid,nodev,") || strings.Contains(opts, "noexec") {
		t.Errorf("EPHEMERAL mounted %q", opts)
	}
	unmount(t, mnt)
	os.Truncate(img, 128<<20)
	looptest.Refresh(t, device)
	res, err := e.Open(ctx)
	if err != nil || res.Formatted {
		t.Fatalf("open after growing the partition: %+v, %v", res, err)
	}
	defer unmount(t, mnt)
	var st unix.Statfs_t
	unix.Statfs(mnt, &st)
	size := int64(st.Blocks) * st.Bsize
	t.Logf("grown from %d; statfs says %d bytes", res.GrownFrom, size)
	if res.GrownFrom != 0 && size < 100<<20 {
		t.Errorf("reported grown but the filesystem is %d bytes", size)
	}
}
