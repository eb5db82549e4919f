package partition

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kiln-os/kiln/initd/storage/internal/looptest"
)

func writeUevent(t *testing.T, sys, dir, content string) {
	t.Helper()
	os.MkdirAll(filepath.Join(sys, dir), 0o755)
	if err := os.WriteFile(filepath.Join(sys, dir, "uevent"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func fakeSys(t *testing.T) string {
	sys := t.TempDir()
	writeUevent(t, sys, "vda", "MAJOR=254\nMINOR=0\nDEVNAME=vda\nDEVTYPE=disk\n")
	writeUevent(t, sys, "vda1", "MAJOR=254\nMINOR=1\nDEVNAME=vda1\nDEVTYPE=partition\nPARTN=1\nPARTNAME=EFI\n")
	writeUevent(t, sys, "vda2", "MAJOR=254\nMINOR=2\nDEVNAME=vda2\nDEVTYPE=partition\nPARTN=2\nPARTNAME=STATE\n")
	writeUevent(t, sys, "vda3", "DEVNAME=vda3\nPARTNAME=EPHEMERAL-OLD\n")
	return sys
}

func TestFind(t *testing.T) {
	sys := fakeSys(t)
	for label, want := range map[string]string{"EFI": "/dev/vda1", "STATE": "/dev/vda2"} {
		if got, err := Find(sys, label); err != nil || got != want {
			t.Errorf("Find(%s) = %q, %v; want %q", label, got, err, want)
		}
	}
	// A prefix of another name is not a match.
	if _, err := Find(sys, "EPHEMERAL"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Find(EPHEMERAL) = %v, want ErrNotFound", err)
	}
}

func TestFindRefusesDuplicates(t *testing.T) {
	sys := fakeSys(t)
	writeUevent(t, sys, "sdb2", "DEVNAME=sdb2\nPARTNAME=STATE\n")
	_, err := Find(sys, "STATE")
	if err == nil || errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "/dev/sdb2") {
		t.Errorf("duplicate STATE: %v", err)
	}
}

// fakeClass is a /sys/class with fakeSys's disk under block/.
func fakeClass(t *testing.T) string {
	class := t.TempDir()
	if err := os.Rename(fakeSys(t), filepath.Join(class, "block")); err != nil {
		t.Fatal(err)
	}
	return class
}

// writeAttr writes one sysfs attribute under class, making its folders.
func writeAttr(t *testing.T, class, path, value string) {
	t.Helper()
	os.MkdirAll(filepath.Join(class, filepath.Dir(path)), 0o755)
	if err := os.WriteFile(filepath.Join(class, path), []byte(value+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestWaitSeesPartitionOfAProbingController(t *testing.T) {
	class := fakeClass(t)
	writeAttr(t, class, "nvme/nvme0/state", "resetting")
	go func() {
		time.Sleep(3 * PollInterval)
		writeUevent(t, filepath.Join(class, "block"), "vda3", "DEVNAME=vda3\nPARTNAME=EPHEMERAL\n")
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if got, err := Wait(ctx, class, "EPHEMERAL"); err != nil || got != "/dev/vda3" {
		t.Errorf("Wait = %q, %v", got, err)
	}
}

func TestWaitReturnsAtOnceWhenNothingProbes(t *testing.T) {
	class := fakeClass(t)
	writeAttr(t, class, "nvme/nvme0/state", "live")
	os.MkdirAll(filepath.Join(class, "nvme", "nvme0", "nvme0n1"), 0o755)
	started := time.Now()
	_, err := Wait(context.Background(), class, "NOPE")
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "no disk driver is still probing") {
		t.Errorf("Wait = %v, want ErrNotFound naming the evidence", err)
	}
	// No timer on this path: far less than a poll interval (a generous margin for CI).
	if took := time.Since(started); took >= PollInterval {
		t.Errorf("Wait took %s with nothing probing", took)
	}
}

func TestWaitEndsWithContextNamingWhatProbes(t *testing.T) {
	class := fakeClass(t)
	writeAttr(t, class, "nvme/nvme1/state", "connecting")
	ctx, cancel := context.WithTimeout(context.Background(), 3*PollInterval)
	defer cancel()
	_, err := Wait(ctx, class, "NOPE")
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), `"NOPE"`) || !strings.Contains(err.Error(), "NVMe nvme1 (connecting)") {
		t.Errorf("Wait = %v", err)
	}
}

func TestProbing(t *testing.T) {
	class := t.TempDir()
	if got := Probing(class); len(got) != 0 {
		t.Errorf("no controllers: Probing = %v", got)
	}
	writeAttr(t, class, "nvme/nvme0/state", "live")
	os.MkdirAll(filepath.Join(class, "nvme", "nvme0", "nvme0n1"), 0o755)
	writeAttr(t, class, "nvme/nvme3/state", "live") // a path of a multipath namespace
	os.MkdirAll(filepath.Join(class, "nvme", "nvme3", "nvme3c3n1"), 0o755)
	writeAttr(t, class, "nvme/nvme1/state", "live")      // live, namespaces not scanned yet
	writeAttr(t, class, "nvme/nvme2/state", "resetting") // still resetting
	os.MkdirAll(filepath.Join(class, "mmc_host", "mmc0", "mmc0:0001"), 0o755)
	os.MkdirAll(filepath.Join(class, "mmc_host", "mmc1"), 0o755) // no card yet
	want := []string{"NVMe nvme1 (no namespace yet)", "NVMe nvme2 (resetting)", "MMC mmc1 (no card yet)"}
	if got := Probing(class); !slices.Equal(got, want) {
		t.Errorf("Probing = %q, want %q", got, want)
	}
}

func TestSizeOfFileAndBlockDevice(t *testing.T) {
	img := looptest.SparseFile(t, "disk.img", 12<<20)
	if got, err := Size(img); err != nil || got != 12<<20 {
		t.Errorf("Size(file) = %d, %v", got, err)
	}
	dev := looptest.Attach(t, img)
	if got, err := Size(dev); err != nil || got != 12<<20 {
		t.Errorf("Size(%s) = %d, %v", dev, got, err)
	}
}

func TestFindOnThisMachine(t *testing.T) {
	if _, err := os.Stat(SysClassBlock); err != nil {
		t.Skip("no /sys/class/block")
	}
	if _, err := Find(SysClassBlock, "no-such-kiln-label"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Find on real sysfs: %v", err)
	}
}
