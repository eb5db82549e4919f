package disks

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/kiln-os/kiln/initd/storage/stateheader"
)

// TestWipeLeavesNoData is the disk-thief attack after a Reset: the partition is read raw.
// Neither the header area (both header copies and the sealed key) nor the data behind it
// may still hold what was written: on a plain STATE or on EPHEMERAL that data is clear.
// A temporary file stands in for the partition; the data area is punched out the way a
// block device's is discarded.
func TestWipeLeavesNoData(t *testing.T) {
	dev := filepath.Join(t.TempDir(), "state.img")
	secret := bytes.Repeat([]byte("secret!"), (3*stateheader.AreaSize+5)/7)
	if err := os.WriteFile(dev, secret, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := wipeDevice(dev); err != nil {
		t.Fatal(err)
	}
	after, err := os.ReadFile(dev)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(secret) {
		t.Fatalf("wipe changed the size from %d to %d", len(secret), len(after))
	}
	if i := bytes.IndexFunc(after, func(r rune) bool { return r != 0 }); i >= 0 {
		t.Errorf("byte %d (of %d) survived the wipe; header area ends at %d", i, len(after), stateheader.AreaSize)
	}
}
