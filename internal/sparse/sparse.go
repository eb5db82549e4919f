// Package sparse copies disk images without writing their empty regions: an all-zero block
// of the source becomes a hole in the destination, so a 1 GiB image with 30 MB of content
// costs 30 MB of disk.
package sparse

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
)

const blockSize = 64 << 10

// Copy replaces dst with a copy of src in which all-zero blocks are holes.
func Copy(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if err := copyBlocks(out, in, fi.Size()); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func copyBlocks(out *os.File, in io.ReaderAt, size int64) error {
	buf := make([]byte, blockSize)
	zero := make([]byte, blockSize)
	for off := int64(0); off < size; off += blockSize {
		n, err := in.ReadAt(buf, off)
		if n > 0 && !bytes.Equal(buf[:n], zero[:n]) {
			if _, werr := out.WriteAt(buf[:n], off); werr != nil {
				return werr
			}
		}
		if err != nil && err != io.EOF {
			return err
		}
	}
	return out.Truncate(size)
}
