package squashfs

import "math"

// maxRunEntries is the most entries one directory header may announce.
const maxRunEntries = 256

// dirRun is a directory header and its entries. All entries of a run have
// their inodes starting in the same inode metadata block, and inode numbers
// within a signed 16-bit distance of the header's.
type dirRun struct {
	block   uint64 // inode table offset of the entries' inode block
	baseIno uint32
	entries []*node
}

func (r *dirRun) fits(n *node) bool {
	delta := int64(n.ino) - int64(r.baseIno)
	return len(r.entries) < maxRunEntries && n.ref.block == r.block &&
		delta >= math.MinInt16 && delta <= math.MaxInt16
}

// splitRuns groups sorted directory entries into runs, in order.
func splitRuns(entries []*node) []dirRun {
	var runs []dirRun
	for _, n := range entries {
		if len(runs) == 0 || !runs[len(runs)-1].fits(n) {
			runs = append(runs, dirRun{block: n.ref.block, baseIno: n.ino})
		}
		last := &runs[len(runs)-1]
		last.entries = append(last.entries, n)
	}
	return runs
}

// appendListing encodes a directory's entries, sorted by name, as the
// directory table stores them; an empty directory has no bytes.
func appendListing(b []byte, entries []*node) []byte {
	for _, run := range splitRuns(entries) {
		b = le.AppendUint32(b, uint32(len(run.entries)-1))
		b = le.AppendUint32(b, uint32(run.block))
		b = le.AppendUint32(b, run.baseIno)
		for _, n := range run.entries {
			b = le.AppendUint16(b, n.ref.offset)
			b = le.AppendUint16(b, uint16(int16(int64(n.ino)-int64(run.baseIno))))
			b = le.AppendUint16(b, entryType(n.kind))
			b = le.AppendUint16(b, uint16(len(n.name)-1))
			b = append(b, n.name...)
		}
	}
	return b
}

func entryType(k kind) uint16 {
	switch k {
	case kindDir:
		return typeDir
	case kindSymlink:
		return typeSymlink
	}
	return typeFile
}
