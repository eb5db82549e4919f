package mount

import (
	"errors"
	"path/filepath"
	"testing"
)

// TestDoRefusesUnboundedTmpfs: a tmpfs entry without size= and nr_inodes= is refused
// before anything is created or mounted, so no table can add one by mistake.
func TestDoRefusesUnboundedTmpfs(t *testing.T) {
	target := filepath.Join(t.TempDir(), "tmp")
	for _, data := range []string{"", "mode=1777", "mode=1777,size=0", "nr_inodes=1k", "size=1m", "size=1m,nr_inodes=0", "xsize=1m,nr_inodes=1k"} {
		err := Mount{Source: "tmpfs", Target: target, FSType: "tmpfs", Flags: NoSuidDevExec, Data: data}.Do()
		if !errors.Is(err, ErrUnboundedTmpfs) {
			t.Errorf("tmpfs with %q: %v, want ErrUnboundedTmpfs", data, err)
		}
	}
}
