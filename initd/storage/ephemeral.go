package storage

import (
	"context"
	"errors"
	"io"
	"os"

	"github.com/sirupsen/logrus"

	"github.com/kiln-os/kiln/initd/mount"
	"github.com/kiln-os/kiln/initd/storage/ext4"
	"github.com/kiln-os/kiln/initd/storage/partition"
	"github.com/kiln-os/kiln/pipeline/disk/layout"
)

// ephemeralLabel is the ext4 label of EPHEMERAL.
const ephemeralLabel = layout.LabelEphemeral

// growSlack is how much larger than the filesystem the partition must be before Open
// grows it: less is rounding, not a resized disk.
const growSlack = 1 << 20

// Ephemeral makes and mounts the EPHEMERAL partition at /var. Its contents are
// disposable by design, so anything that is not ext4 is formatted.
type Ephemeral struct {
	Device     string // the EPHEMERAL partition
	Mountpoint string // /var
	Log        logrus.FieldLogger

	mount func(mount.Mount) error
	grow  func(mountpoint string, size int64) error
}

// EphemeralResult says what Open did.
type EphemeralResult struct {
	Formatted bool
	GrownFrom int64 // filesystem size before growing; 0 when not grown
	Size      int64 // partition size
}

// Open formats EPHEMERAL when it holds no ext4 superblock, mounts it (nosuid,nodev:
// containers need exec from /var), and grows the filesystem when the partition is
// larger. A failed grow is logged, not fatal: /var works at its old size.
func (e *Ephemeral) Open(ctx context.Context) (EphemeralResult, error) {
	e.defaults()
	size, err := partition.Size(e.Device)
	if err != nil {
		return EphemeralResult{}, err
	}
	res := EphemeralResult{Size: size}
	fsSize, err := e.filesystemSize()
	if errors.Is(err, ext4.ErrNotExt4) {
		e.Log.WithField("device", e.Device).WithField("bytes", size).Info("EPHEMERAL has no filesystem: formatting")
		if err := ext4.Format(e.Device, size, ephemeralLabel); err != nil {
			return res, err
		}
		res.Formatted, fsSize = true, size
	} else if err != nil {
		return res, err
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	m := mount.Mount{Source: e.Device, Target: e.Mountpoint, FSType: "ext4", Flags: mount.NoSuidDev}
	if err := e.mount(m); err != nil {
		return res, err
	}
	if size-fsSize >= growSlack {
		e.growTo(&res, fsSize, size)
	}
	return res, nil
}

func (e *Ephemeral) growTo(res *EphemeralResult, fsSize, size int64) {
	log := e.Log.WithField("from", fsSize).WithField("to", size)
	if err := e.grow(e.Mountpoint, size); err != nil {
		log.WithError(err).Warn("EPHEMERAL not grown; /var keeps its old size")
		return
	}
	res.GrownFrom = fsSize
	log.Info("EPHEMERAL grown")
}

func (e *Ephemeral) filesystemSize() (int64, error) {
	f, err := os.Open(e.Device)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sb, err := ext4.ReadSuperblock(f)
	return sb.Size(), err
}

func (e *Ephemeral) defaults() {
	if e.Log == nil {
		l := logrus.New()
		l.Out = io.Discard
		e.Log = l
	}
	if e.mount == nil {
		e.mount = mount.Mount.Do
	}
	if e.grow == nil {
		e.grow = ext4.Grow
	}
}
