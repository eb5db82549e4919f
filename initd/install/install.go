package install

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/kiln-os/kiln/pipeline/disk/fat"
	"github.com/kiln-os/kiln/pipeline/disk/gpt"
	"github.com/kiln-os/kiln/pipeline/disk/layout"
)

// Errors of Install; a refusal wraps one with the detail.
var (
	// ErrNotEmpty: the disk holds a partition table or a signature and Wipe is off.
	ErrNotEmpty = errors.New("install: the disk holds data (set install.wipe to erase it)")
	// ErrHoldsKiln: the disk already holds Kiln and Wipe is off; the node boots it.
	ErrHoldsKiln = errors.New("install: the disk already holds Kiln (set install.wipe to reinstall)")
	// ErrTooSmall: the disk is under MinDiskSize.
	ErrTooSmall = errors.New("install: disk too small")
)

// MinDiskSize is the smallest disk Kiln installs to: 2 GiB.
const MinDiskSize = 2 << 30

// Device is the disk Install writes: *os.File of a block device, or a plain file.
type Device interface {
	io.ReaderAt
	io.WriterAt
	Sync() error
}

// Options are what Install writes.
type Options struct {
	// Wipe erases a disk that holds data; without it such a disk is refused untouched.
	Wipe bool
	// UKI is the verified image (initd/upgrade.VerifyInstall); UKIName its file name in
	// EFI/Linux, entry.Fresh(version).
	UKI     []byte
	UKIName string
	// PayloadDir holds the ESP's other files at their ESP paths: on a node the signed
	// rootfs's /usr/lib/kiln/esp (the constant PayloadDir), read with ReadPayload.
	PayloadDir string
	// Extra are further ESP files, checked by the caller: the Kubernetes payload the
	// UKI pins, taken from the live medium (kubepayload.ESPDir).
	Extra []fat.File
	// ModTime stamps the ESP's files and directories (the image's SOURCE_DATE_EPOCH).
	ModTime time.Time
	// Rand seeds the disk's GPT GUIDs and the ESP's volume ID; nil means crypto/rand.
	// The builder derives disk.raw's from the image (every copy of disk.raw is one
	// disk), but two machines installed from one ISO are two disks: identical GUIDs
	// would make one machine's partitions (found by PARTUUID, LoaderDevicePartUUID)
	// ambiguous as soon as the other's disk is attached to it.
	Rand io.Reader
	// Logf reports progress; nil is silent.
	Logf func(format string, args ...any)
}

// Result is where Install put Kiln.
type Result struct {
	Table *gpt.Table // the disk GUID and the partitions' GUIDs and extents
	ESP   gpt.Extent // partition 1, for the boot entry (SetBootNext)
	Wiped []Signature
}

// Install writes Kiln to dev, a disk of size bytes, in this order, each step durable
// (Sync) before the next, so that a power cut at any point leaves either the old disk
// (before step 3), a disk with no partition table (which the next live boot installs
// again), or the installed disk:
//
//  1. Probe; refuse a disk that holds anything unless Wipe (ErrHoldsKiln when it is
//     Kiln's layout, else ErrNotEmpty). A refused disk is not written at all.
//  2. Plan the GPT (layout.Partitions) with GUIDs from Rand, and build the ESP's file
//     list (the payload and the UKI); refuse bad options before writing.
//  3. Wipe: zero the first and last MiB of the disk (MBR, both GPTs, and the
//     signatures of a file system on the whole disk), the 4 KiB around every signature
//     Probe found (in old partitions too), and the first MiB of each new partition, so
//     that an old STATE header or EPHEMERAL superblock at the same offsets cannot be
//     taken for the new machine's. Sync.
//  4. Write the ESP (FAT32, layout.ESPVolumeLabel) at its planned offset. Sync. Read
//     every file back through the FAT reader and compare.
//  5. Write the GPT, primary and backup. Sync. This is the commit point. A cut before
//     the Sync may persist either copy without the other; each is a whole, valid
//     table (UEFI 2.10 §5.3.2: firmware checks both and restores a bad one from the
//     good one), and Probe reads either, so the disk then counts as Kiln's.
func Install(ctx context.Context, dev Device, size int64, opts Options) (*Result, error) {
	logf := opts.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if size < MinDiskSize {
		return nil, fmt.Errorf("%w: %d bytes, at least %d", ErrTooSmall, size, MinDiskSize)
	}
	found, err := Probe(dev, size)
	if err != nil {
		return nil, err
	}
	switch {
	case found.Kiln && !opts.Wipe:
		return nil, fmt.Errorf("%w: %s", ErrHoldsKiln, found)
	case !found.Empty() && !opts.Wipe:
		return nil, fmt.Errorf("%w: %s", ErrNotEmpty, found)
	}
	seed, err := randomSeed(opts.Rand)
	if err != nil {
		return nil, err
	}
	parts := layout.Partitions()
	table, err := parts.Plan(size/sector*sector, seed)
	if err != nil {
		return nil, err
	}
	payload, err := ReadPayload(opts.PayloadDir)
	if err != nil {
		return nil, err
	}
	files, err := espFiles(payload, opts.UKIName, opts.UKI)
	if err != nil {
		return nil, err
	}
	files = append(files, opts.Extra...)
	slices.SortFunc(files, func(a, b fat.File) int { return strings.Compare(a.Path, b.Path) })
	esp := table.Partitions[0]
	fatOpts := fat.Options{Size: esp.Size, Type: fat.FAT32, Label: layout.ESPVolumeLabel, VolumeID: volumeID(seed), ModTime: opts.ModTime}

	steps := []struct {
		name string
		run  func() error
	}{
		{"wipe", func() error { return wipe(dev, size, table, found.Signatures) }},
		{"esp", func() error { return fat.Write(io.NewOffsetWriter(dev, esp.Offset), fatOpts, files) }},
		{"esp read-back", func() error { return readBack(io.NewSectionReader(dev, esp.Offset, esp.Size), files) }},
		{"gpt", func() error { return parts.WriteTable(dev, table) }},
	}
	for _, s := range steps {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("install: before %s: %w", s.name, err)
		}
		logf("install: %s", s.name)
		if err := s.run(); err != nil {
			return nil, fmt.Errorf("install: %s: %w", s.name, err)
		}
		if err := dev.Sync(); err != nil {
			return nil, fmt.Errorf("install: sync after %s: %w", s.name, err)
		}
	}
	return &Result{Table: table, ESP: esp, Wiped: found.Signatures}, nil
}

func randomSeed(r io.Reader) ([]byte, error) {
	if r == nil {
		r = rand.Reader
	}
	seed := make([]byte, 32)
	if _, err := io.ReadFull(r, seed); err != nil {
		return nil, fmt.Errorf("install: random seed: %w", err)
	}
	return seed, nil
}

func volumeID(seed []byte) uint32 {
	sum := sha256.Sum256(append([]byte("esp-volume-id:"), seed...))
	return binary.LittleEndian.Uint32(sum[:4])
}

// wipeBlock is the block zeroed around each signature Probe found.
const wipeBlock = 4096

// wipe zeroes what step 3 of Install lists.
func wipe(w io.WriterAt, size int64, table *gpt.Table, sigs []Signature) error {
	ranges := []extent{{0, 1 << 20}, {size - 1<<20, 1 << 20}}
	for _, p := range table.Partitions {
		ranges = append(ranges, extent{p.Offset, 1 << 20})
	}
	for _, s := range sigs {
		start := s.Offset / wipeBlock * wipeBlock
		end := (s.Offset + int64(s.Length) + wipeBlock - 1) / wipeBlock * wipeBlock
		ranges = append(ranges, extent{start, end - start})
	}
	zero := make([]byte, 1<<20)
	for _, r := range ranges {
		off, n := max(r.off, 0), min(r.off+r.size, size)-max(r.off, 0)
		for n > 0 {
			k := min(n, int64(len(zero)))
			if _, err := w.WriteAt(zero[:k], off); err != nil {
				return fmt.Errorf("zero %d bytes at %d: %w", k, off, err)
			}
			off, n = off+k, n-k
		}
	}
	return nil
}

// readBack opens the written ESP with the FAT reader and compares every file, so that
// the table is never written over an ESP that does not read back as written.
func readBack(esp *io.SectionReader, files []fat.File) error {
	fsys, err := fat.Open(esp, esp.Size())
	if err != nil {
		return err
	}
	for _, f := range files {
		got, err := fsys.ReadFile(f.Path, int64(len(f.Data)))
		if err != nil {
			return err
		}
		if sha256.Sum256(got) != sha256.Sum256(f.Data) {
			return fmt.Errorf("%s reads back differently", f.Path)
		}
	}
	return nil
}
