package iso

import (
	"fmt"
	"io"
)

// write streams the planned image: every block in order, nothing skipped.
func (im *image) write(w io.Writer) error {
	bw := &blockWriter{w: w}
	if im.opts.HybridMBR {
		bw.at(0, im.hybridMBR())
	}
	bw.at(systemAreaBlocks, im.primaryDescriptor())
	if im.boot != nil {
		bw.at(im.bootRecord, im.bootRecordDescriptor())
	}
	bw.at(im.terminator, terminatorDescriptor())
	bw.at(im.pathTableL, im.pathTable(false))
	bw.at(im.pathTableM, im.pathTable(true))
	for _, d := range im.dirs {
		bw.at(d.extent, im.dirBytes(d))
	}
	if im.boot != nil {
		bw.at(im.catalog, im.bootCatalog())
	}
	for _, f := range im.files {
		if f.size > 0 {
			bw.at(f.extent, f.data)
		}
	}
	bw.padTo(im.blocks)
	return bw.err
}

// blockWriter writes blocks in increasing order, filling gaps with zeros,
// and keeps the first error.
type blockWriter struct {
	w   io.Writer
	n   uint64 // bytes written
	err error
}

var zeros = make([]byte, 16*blockSize)

// at writes data starting at block, after zeros up to it.
func (bw *blockWriter) at(block uint32, data []byte) {
	bw.padTo(block)
	if bw.err == nil && bw.n != uint64(block)*blockSize {
		bw.err = fmt.Errorf("iso: internal error: block %d written at byte %d", block, bw.n)
	}
	bw.write(data)
}

// padTo writes zeros up to the start of block.
func (bw *blockWriter) padTo(block uint32) {
	for want := uint64(block) * blockSize; bw.err == nil && bw.n < want; {
		bw.write(zeros[:min(uint64(len(zeros)), want-bw.n)])
	}
}

func (bw *blockWriter) write(p []byte) {
	if bw.err != nil {
		return
	}
	n, err := bw.w.Write(p)
	bw.n += uint64(n)
	if err != nil {
		bw.err = fmt.Errorf("iso: write at byte %d: %w", bw.n, err)
	}
}
