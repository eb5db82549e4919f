package e2e

import (
	"slices"
	"testing"
	"time"
)

// These run without QEMU: the trials' report depends on them.

func TestClassifyFsck(t *testing.T) {
	out := `fsck.fat 4.2 (2021-01-31)
There are differences between boot sector and its backup.
This is mostly harmless. Differences: (offset:original/backup)
  65:01/00
  Not automatically fixing this.
Dirty bit is set. Fs was not properly unmounted and some data may be corrupt.
 Automatically removing dirty bit.
/EFI/Linux/.kiln-upgrade.tmp
  File size is 0 bytes, cluster chain length is > 0.
  Truncating file to 0 bytes.
/EFI/Linux/kiln-0.1.1+3.efi
  File size is 9000000 bytes, cluster chain length is 0.
/EFI/Linux/kiln-0.1.1+3.efi
  and /EFI/Linux/.kiln-upgrade.tmp
  share clusters.
Free cluster summary wrong (1000 vs. really 900)
  Auto-correcting.
Leaving filesystem unchanged.
/tmp/x/esp.img: 12 files, 4000/130000 clusters
`
	harmless, harmful := classifyFsck(out)
	wantHarmful := []string{
		"/EFI/Linux/kiln-0.1.1+3.efi / File size is 9000000 bytes, cluster chain length is 0.",
		"/EFI/Linux/kiln-0.1.1+3.efi / and /EFI/Linux/.kiln-upgrade.tmp / share clusters.",
	}
	if !slices.Equal(harmful, wantHarmful) {
		t.Errorf("harmful = %q, want %q", harmful, wantHarmful)
	}
	if len(harmless) != 5 {
		t.Errorf("harmless = %q, want the backup sector, its note, the dirty bit, the temp file and the free count", harmless)
	}
}

func TestPhaseOf(t *testing.T) {
	cal := calibration{InstalledMS: 10000, ReceiveSeconds: 6, VerifySeconds: 1, WriteSeconds: 2}
	seen := func(marks map[string]time.Duration) *timeline { return &timeline{seen: marks} }
	cases := []struct {
		tl         *timeline
		kill       int64
		phase, src string
	}{
		{seen(nil), 500, "transfer", "calibration"},
		{seen(nil), 7500, "verify", "calibration"},
		{seen(nil), 9000, "write", "calibration"},
		{seen(nil), 12000, "write-or-reboot", "calibration"},
		{seen(map[string]time.Duration{"installed": time.Second}), 12000, "reboot", "observed"},
		{seen(map[string]time.Duration{"installed": time.Second, "newKernel": 2 * time.Second}), 12000, "new-boot", "observed"},
	}
	for _, c := range cases {
		if phase, src := phaseOf(c.tl, c.kill, cal); phase != c.phase || src != c.src {
			t.Errorf("phaseOf(%v, %d) = %s, %s; want %s, %s", c.tl.seen, c.kill, phase, src, c.phase, c.src)
		}
	}
}
