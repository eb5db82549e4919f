package squashfs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
)

const (
	dataUncompressed = 1 << 24    // block size bit: block stored as is
	noFragment       = 0xFFFFFFFF // fragment index of a file without tail
)

// fileData is a regular file's content: compressed full blocks and the
// uncompressed tail that goes into a fragment block.
type fileData struct {
	size   uint64
	blocks []dataBlock
	tail   []byte

	// Placement, set by Close.
	start   uint64 // image offset of the first block
	frag    uint32 // fragment index, or noFragment
	fragOff uint32 // offset of the tail in the uncompressed fragment block
}

// dataBlock is one block as stored, with its size word for the inode.
type dataBlock struct {
	data []byte
	size uint32 // len(data), plus dataUncompressed if stored as is
}

func newDataBlock(c codec, src []byte) dataBlock {
	data, compressed := squeeze(c, src)
	if !compressed {
		return dataBlock{data: bytes.Clone(data), size: uint32(len(data)) | dataUncompressed}
	}
	return dataBlock{data: data, size: uint32(len(data))}
}

// readFile compresses r's full blocks and keeps the partial last one.
func (w *Writer) readFile(r io.Reader) (*fileData, error) {
	f := &fileData{}
	for {
		n, err := io.ReadFull(r, w.buf)
		f.size += uint64(n)
		switch {
		case err == nil:
			f.blocks = append(f.blocks, newDataBlock(w.codec, w.buf))
		case errors.Is(err, io.EOF):
			return f, nil
		case errors.Is(err, io.ErrUnexpectedEOF):
			f.tail = bytes.Clone(w.buf[:n])
			return f, nil
		default:
			return nil, err
		}
	}
}

// dataLayout places file blocks and fragment blocks after the superblock.
// Files are placed in path order; a fragment block is written when the next
// tail does not fit, so it lands between two files' blocks.
type dataLayout struct {
	codec     codec
	blockSize uint32
	offset    uint64   // image offset of the next block
	chunks    [][]byte // blocks in image order
	frags     []dataBlock
	fragStart []uint64
	fragRaw   []int  // each fragment block's uncompressed length (Writer.Stored)
	pending   []byte // tails of the fragment block being filled
}

func (l *dataLayout) placeTree(dir *node) {
	for _, child := range dir.list {
		switch child.kind {
		case kindDir:
			l.placeTree(child)
		case kindFile:
			l.placeFile(child.file)
		}
	}
}

func (l *dataLayout) placeFile(f *fileData) {
	f.start = l.offset
	for _, b := range f.blocks {
		l.append(b.data)
	}
	f.frag, f.fragOff = noFragment, 0
	if len(f.tail) == 0 {
		return
	}
	if len(l.pending)+len(f.tail) > int(l.blockSize) {
		l.flushFragment()
	}
	f.frag, f.fragOff = uint32(len(l.frags)), uint32(len(l.pending))
	l.pending = append(l.pending, f.tail...)
}

func (l *dataLayout) flushFragment() {
	if len(l.pending) == 0 {
		return
	}
	block := newDataBlock(l.codec, l.pending)
	l.frags = append(l.frags, block)
	l.fragRaw = append(l.fragRaw, len(l.pending))
	l.fragStart = append(l.fragStart, l.offset)
	l.append(block.data)
	l.pending = l.pending[:0]
}

func (l *dataLayout) append(b []byte) {
	l.chunks = append(l.chunks, b)
	l.offset += uint64(len(b))
}

// fragmentEntries encodes the fragment table: start, size word, unused.
func (l *dataLayout) fragmentEntries() []byte {
	var b []byte
	for i, f := range l.frags {
		b = binary.LittleEndian.AppendUint64(b, l.fragStart[i])
		b = binary.LittleEndian.AppendUint32(b, f.size)
		b = binary.LittleEndian.AppendUint32(b, 0)
	}
	return b
}
