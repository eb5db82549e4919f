package ext4

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kiln-os/kiln/initd/storage/internal/looptest"
	"github.com/kiln-os/kiln/internal/oracle"
)

// TestFormatOracle formats sparse files and lets e2fsprogs judge the result: e2fsck must
// find nothing to fix and dumpe2fs must show the label and the journal.
func TestFormatOracle(t *testing.T) {
	oracle.Require(t, "e2fsck", "e2fsprogs")
	oracle.Require(t, "dumpe2fs", "e2fsprogs")
	for _, tc := range []struct {
		name string
		size int64
	}{{"100MiB", 100 << 20}, {"1GiB", 1 << 30}} {
		t.Run(tc.name, func(t *testing.T) {
			img := looptest.SparseFile(t, "fs.img", tc.size)
			start := time.Now()
			if err := Format(img, tc.size, "EPHEMERAL"); err != nil {
				t.Fatal(err)
			}
			t.Logf("Format %s took %v", tc.name, time.Since(start).Round(time.Millisecond))
			e2fsck(t, img)
			header := dumpe2fsHeader(t, img)
			if !strings.Contains(header, "Filesystem volume name:   EPHEMERAL") {
				t.Errorf("label missing from dumpe2fs -h:\n%s", header)
			}
			if !regexpLine(header, "Filesystem features:", "has_journal") {
				t.Errorf("has_journal missing from dumpe2fs -h:\n%s", header)
			}
			checkSuperblock(t, img, tc.size, "EPHEMERAL")
		})
	}
}

func e2fsck(t *testing.T, path string) {
	t.Helper()
	out, err := exec.Command("e2fsck", "-fn", path).CombinedOutput()
	if err != nil {
		t.Fatalf("e2fsck -fn %s: %v\n%s", path, err, out)
	}
}

func dumpe2fsHeader(t *testing.T, path string) string {
	t.Helper()
	out, err := exec.Command("dumpe2fs", "-h", path).CombinedOutput()
	if err != nil {
		t.Fatalf("dumpe2fs -h: %v\n%s", err, out)
	}
	return string(out)
}

func regexpLine(text, prefix, word string) bool {
	for _, line := range strings.Split(text, "\n") {
		if rest, ok := strings.CutPrefix(line, prefix); ok {
			return strings.Contains(" "+rest+" ", " "+word+" ")
		}
	}
	return false
}

func checkSuperblock(t *testing.T, path string, size int64, label string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sb, err := ReadSuperblock(f)
	if err != nil {
		t.Fatal(err)
	}
	if sb.Label != label || sb.Size() > size || sb.Size() < size-sb.BlockSize {
		t.Errorf("superblock %+v (size %d), want label %q size %d", sb, sb.Size(), label, size)
	}
}

func TestFormatRefusesBadInput(t *testing.T) {
	img := looptest.SparseFile(t, "fs.img", 32<<20)
	if err := Format(img, 32<<20, "a-label-longer-than-16"); err == nil {
		t.Error("a 22-byte label was accepted")
	}
	if err := Format(img, 1<<20, "tiny"); err == nil {
		t.Error("a 1 MiB filesystem was accepted")
	}
}

func TestReadSuperblockOfZeroes(t *testing.T) {
	img := looptest.SparseFile(t, "zero.img", 1<<20)
	f, _ := os.Open(img)
	defer f.Close()
	if _, err := ReadSuperblock(f); !errors.Is(err, ErrNotExt4) {
		t.Errorf("zeroed device: %v, want ErrNotExt4", err)
	}
	short := looptest.SparseFile(t, "short.img", 100)
	g, _ := os.Open(short)
	defer g.Close()
	if _, err := ReadSuperblock(g); !errors.Is(err, ErrNotExt4) {
		t.Errorf("100-byte device: %v, want ErrNotExt4", err)
	}
}

// TestGrowOnline formats 100 MiB on a loop device, mounts it, grows the backing file to
// 300 MiB and the filesystem with it, and checks the kernel and e2fsck agree.
func TestGrowOnline(t *testing.T) {
	oracle.Require(t, "e2fsck", "e2fsprogs")
	looptest.RequireCapability(t, looptest.CapSysResource, "CAP_SYS_RESOURCE")
	img := looptest.SparseFile(t, "grow.img", 100<<20)
	if err := Format(img, 100<<20, "GROW"); err != nil {
		t.Fatal(err)
	}
	dev := looptest.Attach(t, img)
	mnt := looptest.Mount(t, dev)
	if err := os.Truncate(img, 300<<20); err != nil {
		t.Fatal(err)
	}
	looptest.Refresh(t, dev)
	start := time.Now()
	if err := Grow(mnt, 300<<20); err != nil {
		t.Fatal(err)
	}
	t.Logf("Grow 100 MiB -> 300 MiB took %v", time.Since(start).Round(time.Millisecond))
	var st unix.Statfs_t
	if err := unix.Statfs(mnt, &st); err != nil {
		t.Fatal(err)
	}
	if total := int64(st.Blocks) * st.Bsize; total < 250<<20 {
		t.Errorf("filesystem is %d bytes after growing to 300 MiB", total)
	}
	if err := unix.Unmount(mnt, 0); err != nil {
		t.Fatal(err)
	}
	e2fsck(t, dev)
}

func TestGrowRefusesNonExt4(t *testing.T) {
	if err := Grow(t.TempDir(), 1<<30); err == nil {
		t.Skip("the test's temporary directory is itself on ext4")
	}
}
