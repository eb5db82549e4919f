package squashfs

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math/bits"
)

const (
	superblockSize = 96
	magic          = 0x73717368 // "hsqs"
	devBlockSize   = 4 << 10    // images are padded to a multiple of this
	noTable        = ^uint64(0) // table start of an absent table

	flagAlwaysFragments = 0x0020 // tails of large files go to fragments too
	flagNoXattrs        = 0x0200
)

// superblock holds the fields Kiln sets; the rest are fixed.
type superblock struct {
	inodes, mtime, blockSize, fragments uint32
	compression                         uint16
	rootInode, bytesUsed                uint64
	idTable, inodeTable, dirTable       uint64
	fragTable                           uint64
}

func (s *superblock) bytes() []byte {
	b := le.AppendUint32(nil, magic)
	b = le.AppendUint32(b, s.inodes)
	b = le.AppendUint32(b, s.mtime)
	b = le.AppendUint32(b, s.blockSize)
	b = le.AppendUint32(b, s.fragments)
	b = le.AppendUint16(b, s.compression)
	b = le.AppendUint16(b, uint16(bits.TrailingZeros32(s.blockSize)))
	b = le.AppendUint16(b, flagNoXattrs|flagAlwaysFragments)
	b = le.AppendUint16(b, 1) // ids: just 0
	b = le.AppendUint16(b, 4) // version 4.0
	b = le.AppendUint16(b, 0)
	b = le.AppendUint64(b, s.rootInode)
	b = le.AppendUint64(b, s.bytesUsed)
	b = le.AppendUint64(b, s.idTable)
	b = le.AppendUint64(b, noTable) // xattr id table
	b = le.AppendUint64(b, s.inodeTable)
	b = le.AppendUint64(b, s.dirTable)
	b = le.AppendUint64(b, s.fragTable)
	return le.AppendUint64(b, noTable) // export table
}

// writeImage lays out and writes the whole image. The order of the tables
// after the data is the one the kernel checks at mount: inodes, directories,
// fragment table and its index, id table and its index, which ends the image.
func (w *Writer) writeImage() error {
	sortTree(w.root)
	data := &dataLayout{codec: w.codec, blockSize: w.blockSize, offset: superblockSize}
	data.placeTree(w.root)
	data.flushFragment()
	w.layout = data
	if err := w.resolveLinks(w.root); err != nil {
		return err
	}

	next := uint32(1)
	numberInodes(w.root, &next)
	tables := &tableWriter{mtime: w.mtime, inodes: metaWriter{codec: w.codec}, dirs: metaWriter{codec: w.codec}}
	tables.writeTree(w.root, next) // the root's parent is one past the last inode, as mksquashfs does

	img := &image{data: data.chunks}
	sb := img.placeTables(data.offset, tables.inodes.bytes(), tables.dirs.bytes(),
		newLookupTable(w.codec, data.fragmentEntries()), newLookupTable(w.codec, make([]byte, 4)))
	sb.inodes, sb.mtime, sb.blockSize = next-1, w.mtime, w.blockSize
	sb.fragments, sb.compression = uint32(len(data.frags)), w.codec.id()
	sb.rootInode = w.root.ref.inodeRef()
	img.superblock = sb.bytes()
	return img.writeTo(w.out, sb.bytesUsed)
}

// image is the byte slices that make up the image, in order.
type image struct {
	superblock []byte
	data       [][]byte // data and fragment blocks
	tables     [][]byte
}

// placeTables appends the tables after the data, which ends at dataEnd, and
// returns the superblock with their positions.
func (img *image) placeTables(dataEnd uint64, inodes, dirs []byte, frags, ids lookupTable) superblock {
	var sb superblock
	at := dataEnd
	add := func(b []byte) uint64 {
		start := at
		img.tables = append(img.tables, b)
		at += uint64(len(b))
		return start
	}
	sb.inodeTable = add(inodes)
	sb.dirTable = add(dirs)
	fragMetaAt := add(frags.meta)
	sb.fragTable = add(frags.index(fragMetaAt))
	idMetaAt := add(ids.meta)
	sb.idTable = add(ids.index(idMetaAt))
	sb.bytesUsed = at
	return sb
}

func (img *image) writeTo(out io.Writer, bytesUsed uint64) error {
	cw := &countWriter{w: out}
	bw := bufio.NewWriterSize(cw, 1<<20)
	_, _ = bw.Write(img.superblock)
	for _, chunk := range img.data {
		_, _ = bw.Write(chunk)
	}
	for _, table := range img.tables {
		_, _ = bw.Write(table)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("squashfs: write image: %w", err)
	}
	if cw.n != bytesUsed {
		return fmt.Errorf("%w: wrote %d bytes, superblock says %d", errLayout, cw.n, bytesUsed)
	}
	if _, err := out.Write(make([]byte, padding(bytesUsed))); err != nil {
		return fmt.Errorf("squashfs: write image: %w", err)
	}
	return nil
}

func padding(n uint64) uint64 { return (devBlockSize - n%devBlockSize) % devBlockSize }

// countWriter counts the bytes written through it.
type countWriter struct {
	w io.Writer
	n uint64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += uint64(n)
	return n, err
}

// errLayout reports a bug in this package: the bytes written differ from
// the layout the superblock describes.
var errLayout = errors.New("squashfs: internal error: image layout mismatch")
