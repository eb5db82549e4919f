package disks

import "testing"

// The diskless /var is a tmpfs like the others: bounded (issue 12, hole 11b).
func TestDisklessVarIsBounded(t *testing.T) {
	if err := disklessVar.CheckBounds(); err != nil {
		t.Error(err)
	}
}
