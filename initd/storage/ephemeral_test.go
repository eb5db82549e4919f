package storage

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/kiln-os/kiln/initd/mount"
)

type fakeGrow struct {
	calls []int64
	err   error
}

func (f *fakeGrow) grow(_ string, size int64) error { f.calls = append(f.calls, size); return f.err }

func TestEphemeralFormatsOnceAndGrows(t *testing.T) {
	device := filepath.Join(t.TempDir(), "ephemeral.img")
	os.WriteFile(device, nil, 0o600)
	os.Truncate(device, 64<<20)
	mounts, grower := &fakeMounts{}, &fakeGrow{}
	e := &Ephemeral{Device: device, Mountpoint: "/var", mount: mounts.mount, grow: grower.grow}

	res, err := e.Open(ctx)
	if err != nil || !res.Formatted || res.GrownFrom != 0 || len(grower.calls) != 0 {
		t.Fatalf("first open: %+v, %v, grow %v", res, err, grower.calls)
	}
	want := mount.Mount{Source: device, Target: "/var", FSType: "ext4", Flags: mount.NoSuidDev}
	if mounts.done[0] != want {
		t.Errorf("mount %v, want %v", mounts.done[0], want)
	}
	if res, err := e.Open(ctx); err != nil || res.Formatted || len(grower.calls) != 0 {
		t.Fatalf("second open: %+v, %v", res, err)
	}
	os.Truncate(device, 128<<20)
	res, err = e.Open(ctx)
	if err != nil || res.Formatted || res.GrownFrom != 64<<20 || len(grower.calls) != 1 || grower.calls[0] != 128<<20 {
		t.Fatalf("open after the partition grew: %+v, %v, grow %v", res, err, grower.calls)
	}
	grower.err = errors.New("EPERM")
	os.Truncate(device, 192<<20)
	if res, err := e.Open(ctx); err != nil || res.GrownFrom != 0 {
		t.Errorf("a failed grow must leave /var mounted: %+v, %v", res, err)
	}
}
