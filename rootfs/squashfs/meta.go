package squashfs

import "encoding/binary"

const (
	metaBlockSize    = 8 << 10 // uncompressed size of a full metadata block
	metaUncompressed = 1 << 15 // metadata header bit: block stored as is
)

// metaRef locates a byte in a metadata table: the offset of its block from
// the start of the table, and the offset inside the uncompressed block.
type metaRef struct {
	block  uint64
	offset uint16
}

// inodeRef is the 48-bit inode reference of directory entries and the
// superblock's root inode.
func (r metaRef) inodeRef() uint64 { return r.block<<16 | uint64(r.offset) }

// metaWriter packs a byte stream into metadata blocks, each preceded by its
// 16-bit length. Records may straddle blocks; readers follow them across.
type metaWriter struct {
	codec  codec
	out    []byte   // finished blocks
	cur    []byte   // the block being filled
	starts []uint64 // offset in out of every finished block
}

func (m *metaWriter) pos() metaRef {
	return metaRef{block: uint64(len(m.out)), offset: uint16(len(m.cur))}
}

func (m *metaWriter) write(p []byte) {
	for len(p) > 0 {
		n := min(metaBlockSize-len(m.cur), len(p))
		m.cur = append(m.cur, p[:n]...)
		p = p[n:]
		if len(m.cur) == metaBlockSize {
			m.flush()
		}
	}
}

func (m *metaWriter) flush() {
	data, compressed := squeeze(m.codec, m.cur)
	header := uint16(len(data))
	if !compressed {
		header |= metaUncompressed
	}
	m.starts = append(m.starts, uint64(len(m.out)))
	m.out = binary.LittleEndian.AppendUint16(m.out, header)
	m.out = append(m.out, data...)
	m.cur = m.cur[:0]
}

// bytes finishes the last block and returns the table.
func (m *metaWriter) bytes() []byte {
	if len(m.cur) > 0 {
		m.flush()
	}
	return m.out
}

// lookupTable is a metadata table of fixed-size entries (fragments, ids)
// followed by the index of its blocks, which the superblock points at.
type lookupTable struct {
	meta   []byte
	starts []uint64
}

func newLookupTable(c codec, entries []byte) lookupTable {
	m := metaWriter{codec: c}
	m.write(entries)
	return lookupTable{meta: m.bytes(), starts: m.starts}
}

// index returns the block index for a table whose blocks start at base.
func (t lookupTable) index(base uint64) []byte {
	var idx []byte
	for _, s := range t.starts {
		idx = binary.LittleEndian.AppendUint64(idx, base+s)
	}
	return idx
}
