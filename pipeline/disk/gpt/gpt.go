package gpt

import (
	"errors"
	"fmt"
	"io"
	"os"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/kiln-os/kiln/internal/guid"
)

// Errors returned by Plan and Write, wrapped with the partition or option at
// fault.
var (
	ErrLayout  = errors.New("gpt: invalid layout")
	ErrNoSpace = errors.New("gpt: partitions do not fit the disk")
	ErrContent = errors.New("gpt: content larger than its partition")
)

const (
	sectorSize   = 512
	alignment    = 1 << 20 // partition starts, in bytes
	entryCount   = 128
	entrySize    = 128
	entrySectors = entryCount * entrySize / sectorSize // 32
	maxNameUnits = 36
)

// Partition is one partition to create.
type Partition struct {
	Name    string      // at most 36 UTF-16 code units, e.g. "EFI"
	Type    guid.GUID   // e.g. EFISystem or LinuxFilesystem
	Size    int64       // bytes, a multiple of 512; 0 = the rest of the disk (last partition only)
	Content io.ReaderAt // copied to the partition's start up to io.EOF; nil leaves it zero
}

// Layout is a disk's partitions, in order.
type Layout struct {
	SectorSize int // 512, or 0 for 512
	Partitions []Partition
}

// Extent is where a partition landed.
type Extent struct {
	Name   string
	GUID   guid.GUID // the partition's unique GUID
	Offset int64     // bytes from the start of the disk
	Size   int64     // bytes
}

// Table is the partition table Plan computes and Write writes.
type Table struct {
	DiskGUID   guid.GUID
	Sectors    int64 // the disk size in sectors
	Partitions []Extent
}

// Target is what Write writes to; *os.File is one.
type Target interface {
	io.WriterAt
	Truncate(size int64) error
}

// Plan places the partitions on a disk of diskSize bytes without writing.
func (l Layout) Plan(diskSize int64, seed []byte) (*Table, error) {
	if err := l.check(diskSize, seed); err != nil {
		return nil, err
	}
	t := &Table{DiskGUID: DeriveGUID(seed, "disk"), Sectors: diskSize / sectorSize}
	next := t.firstUsable() * sectorSize
	for i, p := range l.Partitions {
		start := alignUp(next)
		size := p.Size
		if size == 0 {
			size = alignDown((t.lastUsable()+1)*sectorSize) - start
		}
		if size <= 0 || start+size > (t.lastUsable()+1)*sectorSize {
			return nil, fmt.Errorf("%w: partition %d %q (%d bytes at %d) on %d bytes", ErrNoSpace, i+1, p.Name, p.Size, start, diskSize)
		}
		t.Partitions = append(t.Partitions, Extent{
			Name: p.Name, GUID: DeriveGUID(seed, fmt.Sprintf("partition/%d", i+1)), Offset: start, Size: size,
		})
		next = start + size
	}
	return t, nil
}

// check validates everything Plan does not compute.
func (l Layout) check(diskSize int64, seed []byte) error {
	switch {
	case l.SectorSize != 0 && l.SectorSize != sectorSize:
		return fmt.Errorf("%w: sector size %d (only %d is supported)", ErrLayout, l.SectorSize, sectorSize)
	case diskSize <= 0 || diskSize%sectorSize != 0:
		return fmt.Errorf("%w: disk size %d is not a positive multiple of %d", ErrLayout, diskSize, sectorSize)
	case len(seed) == 0:
		return fmt.Errorf("%w: empty seed (derive it from the spec)", ErrLayout)
	case len(l.Partitions) > entryCount:
		return fmt.Errorf("%w: %d partitions, %d at most", ErrLayout, len(l.Partitions), entryCount)
	}
	for i, p := range l.Partitions {
		switch {
		case p.Type == guid.GUID{}:
			return fmt.Errorf("%w: partition %d %q has no type", ErrLayout, i+1, p.Name)
		case !utf8.ValidString(p.Name) || len(utf16.Encode([]rune(p.Name))) > maxNameUnits:
			return fmt.Errorf("%w: partition %d name %q is not UTF-8 of at most %d UTF-16 units", ErrLayout, i+1, p.Name, maxNameUnits)
		case p.Size < 0 || p.Size%sectorSize != 0:
			return fmt.Errorf("%w: partition %d %q size %d is not a multiple of %d", ErrLayout, i+1, p.Name, p.Size, sectorSize)
		case p.Size == 0 && i != len(l.Partitions)-1:
			return fmt.Errorf("%w: partition %d %q: only the last partition may take the rest (Size 0)", ErrLayout, i+1, p.Name)
		}
	}
	return nil
}

// Write writes the disk to t as a sparse image of diskSize bytes, replacing
// what t held, and returns where the partitions are.
func (l Layout) Write(t Target, diskSize int64, seed []byte) (*Table, error) {
	table, err := l.Plan(diskSize, seed)
	if err != nil {
		return nil, err
	}
	if err := t.Truncate(0); err != nil {
		return nil, err
	}
	if err := t.Truncate(diskSize); err != nil {
		return nil, err
	}
	if err := l.WriteTable(t, table); err != nil {
		return nil, err
	}
	for i, p := range l.Partitions {
		if p.Content == nil {
			continue
		}
		ext := table.Partitions[i]
		if err := copySparse(t, ext.Offset, ext.Size, p.Content); err != nil {
			return nil, fmt.Errorf("partition %d %q: %w", i+1, p.Name, err)
		}
	}
	return table, nil
}

// WriteTable writes only the partition table of a Table that Plan made from l: the
// protective MBR, the primary header and entries (LBA 0-33) and the backup entries and
// header (the last 33 sectors). It neither truncates w nor touches the partitions, so an
// installer can fill the partitions of a plan first and commit them with the table last.
func (l Layout) WriteTable(w io.WriterAt, t *Table) error {
	if t == nil || len(t.Partitions) != len(l.Partitions) {
		return fmt.Errorf("%w: the table was not planned from this layout", ErrLayout)
	}
	types := make([]guid.GUID, len(l.Partitions))
	for i, p := range l.Partitions {
		types[i] = p.Type
	}
	return t.writeTables(w, types)
}

// WriteFile writes the disk into a new sparse file at path.
func (l Layout) WriteFile(path string, diskSize int64, seed []byte) (_ *Table, err error) {
	if _, err := l.Plan(diskSize, seed); err != nil {
		return nil, err
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	return l.Write(f, diskSize, seed)
}

func (t *Table) firstUsable() int64 { return 2 + entrySectors }

func (t *Table) lastUsable() int64 { return t.Sectors - 2 - entrySectors }

func alignUp(n int64) int64 { return (n + alignment - 1) / alignment * alignment }

func alignDown(n int64) int64 { return n / alignment * alignment }
