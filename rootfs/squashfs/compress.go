package squashfs

import (
	"bytes"
	"compress/zlib"
	"fmt"

	"github.com/klauspost/compress/zstd"
)

// Compressor ids in the superblock.
const (
	compGzip = 1
	compZstd = 6
)

// codec compresses one block at a time. Output must depend on the block
// alone, never on earlier blocks, so that images are reproducible.
type codec interface {
	id() uint16
	encode(src []byte) []byte
	close()
}

func newCodec(c Compression, blockSize uint32) (codec, error) {
	switch c {
	case ZSTD:
		return newZstdCodec(blockSize)
	case GZIP:
		return newZlibCodec()
	}
	return nil, fmt.Errorf("%w: unknown Compression %d", ErrOptions, int(c))
}

// squeeze compresses src and reports whether it shrank; if not it returns
// src itself, to be stored uncompressed.
func squeeze(c codec, src []byte) ([]byte, bool) {
	out := c.encode(src)
	if len(out) >= len(src) {
		return src, false
	}
	return out, true
}

type zstdCodec struct{ enc *zstd.Encoder }

// newZstdCodec makes a single-threaded encoder without frame checksums. The
// window never exceeds the block size, the most the kernel's decompressor
// allocates. The best level: an image is written once per build and read at
// every boot (measured on the node's root, 60 MB of files with the container
// runtime, 128 KiB blocks: 23.8 MB at SpeedBetterCompression, 22.6 MB at
// SpeedBestCompression; 21.7 MB with 1 MiB blocks).
func newZstdCodec(blockSize uint32) (*zstdCodec, error) {
	enc, err := zstd.NewWriter(nil,
		zstd.WithEncoderLevel(zstd.SpeedBestCompression),
		zstd.WithEncoderConcurrency(1),
		zstd.WithEncoderCRC(false),
		zstd.WithWindowSize(int(blockSize)),
	)
	if err != nil {
		return nil, fmt.Errorf("squashfs: zstd encoder: %w", err)
	}
	return &zstdCodec{enc: enc}, nil
}

func (z *zstdCodec) id() uint16               { return compZstd }
func (z *zstdCodec) encode(src []byte) []byte { return z.enc.EncodeAll(src, nil) }
func (z *zstdCodec) close()                   { _ = z.enc.Close() }

type zlibCodec struct {
	buf bytes.Buffer
	zw  *zlib.Writer
}

func newZlibCodec() (*zlibCodec, error) {
	c := &zlibCodec{}
	zw, err := zlib.NewWriterLevel(&c.buf, zlib.BestCompression)
	if err != nil {
		return nil, fmt.Errorf("squashfs: zlib encoder: %w", err)
	}
	c.zw = zw
	return c, nil
}

func (c *zlibCodec) id() uint16 { return compGzip }

// encode cannot fail: the writer targets a bytes.Buffer.
func (c *zlibCodec) encode(src []byte) []byte {
	c.buf.Reset()
	c.zw.Reset(&c.buf)
	_, _ = c.zw.Write(src)
	_ = c.zw.Close()
	return bytes.Clone(c.buf.Bytes())
}

func (c *zlibCodec) close() {}
