package gpt

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

const (
	copyBuffer = 1 << 20
	holeBlock  = 64 << 10 // all-zero blocks this big are skipped
)

var zeroBlock = make([]byte, holeBlock)

// copySparse copies r, up to io.EOF, to w at off. It fails if r has more
// than limit bytes, and leaves all-zero blocks unwritten: w was truncated, so
// they read as zeros and take no space.
func copySparse(w io.WriterAt, off, limit int64, r io.ReaderAt) error {
	buf := make([]byte, copyBuffer)
	for pos := int64(0); ; {
		n, err := r.ReadAt(buf, pos)
		if pos+int64(n) > limit {
			return fmt.Errorf("%w: more than %d bytes", ErrContent, limit)
		}
		if werr := writeNonZero(w, off+pos, buf[:n]); werr != nil {
			return werr
		}
		pos += int64(n)
		switch {
		case errors.Is(err, io.EOF):
			return nil
		case err != nil:
			return fmt.Errorf("read content at %d: %w", pos, err)
		}
	}
}

// writeNonZero writes the blocks of data that are not all zeros.
func writeNonZero(w io.WriterAt, off int64, data []byte) error {
	for start := 0; start < len(data); start += holeBlock {
		block := data[start:min(start+holeBlock, len(data))]
		if bytes.Equal(block, zeroBlock[:len(block)]) {
			continue
		}
		if _, err := w.WriteAt(block, off+int64(start)); err != nil {
			return fmt.Errorf("gpt: write at %d: %w", off+int64(start), err)
		}
	}
	return nil
}
