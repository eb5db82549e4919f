package partition

import (
	"context"
	"errors"
	"os"
	"path/filepath"
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

func TestWaitSeesLatePartition(t *testing.T) {
	sys := fakeSys(t)
	go func() {
		time.Sleep(3 * PollInterval)
		writeUevent(t, sys, "vda3", "DEVNAME=vda3\nPARTNAME=EPHEMERAL\n")
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if got, err := Wait(ctx, sys, "EPHEMERAL"); err != nil || got != "/dev/vda3" {
		t.Errorf("Wait = %q, %v", got, err)
	}
}

func TestWaitEndsWithContext(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*PollInterval)
	defer cancel()
	_, err := Wait(ctx, fakeSys(t), "NOPE")
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), `"NOPE"`) {
		t.Errorf("Wait = %v", err)
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
