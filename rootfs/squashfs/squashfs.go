// Package squashfs writes SquashFS 4.0 images (little-endian), the
// compressed read-only file system that Kiln uses for the root file system.
//
// The Writer is deterministic: the image is a function of the set of entries
// and the Options alone. It never reads the clock, the host's users or file
// system, and never depends on the order of Add calls or of map iteration:
// directory entries are sorted by name, and file data is laid out in that
// sorted order when Close writes the image.
//
// Supported subset:
//
//   - directories, regular files, symbolic links and hard links to regular
//     files (AddLink: several entries of one inode, whose link count is
//     stored); no device nodes, FIFOs or sockets
//   - owner and group are always 0 (one id table entry); every inode and the
//     superblock carry Options.ModTime
//   - ZSTD (default) or GZIP (zlib) compression, with no compressor options
//     stored. XZ, LZ4, LZO and LZMA are not written; XZ was left out because
//     it needs a new module (github.com/ulikunitz/xz) for little gain.
//   - data blocks of 4 KiB to 1 MiB; a block that does not shrink is stored
//     uncompressed, and so is a metadata block
//   - tail-end packing: the last partial block of every file (a small file
//     is all tail) is packed into shared fragment blocks, in path order
//   - no xattrs, no NFS export table, no directory index, no sparse blocks,
//     no duplicate-file detection
//
// Paths are slash-separated and relative to the image root ("etc/hostname");
// a leading "/" is ignored and "." is the root, whose mode AddDir may set.
// Directories whose listing reaches 64 KiB get the extended inode; lookups
// in them are linear, as no directory index is written. A missing parent directory is created with mode
// 0755; adding it with AddDir, before or after its children, sets its mode.
// Modes are permission bits plus fs.ModeSetuid, fs.ModeSetgid and
// fs.ModeSticky; Unix-style special bits such as 01000 are rejected.
//
// Memory: file data is compressed as it is added but held in memory until
// Close, because the layout must not depend on the order of Add calls.
// Budget about the size of the finished image.
package squashfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"math/bits"
	"time"
)

// Errors returned by the Writer, wrapped with the path or option at fault.
var (
	ErrOptions = errors.New("squashfs: invalid options")
	ErrPath    = errors.New("squashfs: invalid path")
	ErrMode    = errors.New("squashfs: invalid mode")
	ErrExist   = errors.New("squashfs: entry already exists")
	ErrNotDir  = errors.New("squashfs: parent is not a directory")
	ErrTarget  = errors.New("squashfs: invalid symlink target")
	ErrLink    = errors.New("squashfs: hard link target is not a regular file of the image")
	ErrClosed  = errors.New("squashfs: write after Close")
)

// Compression selects the compressor for data and metadata blocks.
type Compression int

const (
	ZSTD Compression = iota // the default: zstd, deterministic settings
	GZIP                    // zlib streams, readable by every squashfs kernel
)

func (c Compression) String() string {
	switch c {
	case ZSTD:
		return "zstd"
	case GZIP:
		return "gzip"
	}
	return fmt.Sprintf("Compression(%d)", int(c))
}

// DefaultBlockSize is the data block size used when Options.BlockSize is 0.
const DefaultBlockSize = 128 << 10

// Options configure a Writer. ModTime is required.
type Options struct {
	Compression Compression
	BlockSize   uint32    // power of two, 4 KiB to 1 MiB; 0 means DefaultBlockSize
	ModTime     time.Time // written to every inode and the superblock
}

// Writer builds a squashfs image in memory and writes it on Close.
// The first error is sticky: every later call returns it.
type Writer struct {
	out       io.Writer
	codec     codec
	blockSize uint32
	mtime     uint32
	root      *node
	buf       []byte // one data block, reused while reading files
	err       error
	layout    *dataLayout // the data as placed, kept by Close for Stored
}

// NewWriter returns a Writer that writes the image to out on Close.
// Invalid options are reported by the first call on the Writer.
func NewWriter(out io.Writer, opts Options) *Writer {
	w := &Writer{out: out, root: newDir("", 0o755)}
	w.err = w.init(opts)
	return w
}

func (w *Writer) init(opts Options) error {
	if opts.BlockSize == 0 {
		opts.BlockSize = DefaultBlockSize
	}
	if opts.BlockSize < 4<<10 || opts.BlockSize > 1<<20 || bits.OnesCount32(opts.BlockSize) != 1 {
		return fmt.Errorf("%w: BlockSize %d is not a power of two from 4 KiB to 1 MiB", ErrOptions, opts.BlockSize)
	}
	secs := opts.ModTime.Unix()
	if opts.ModTime.IsZero() || secs < 0 || secs > math.MaxUint32 {
		return fmt.Errorf("%w: ModTime %v must be set and between 1970 and 2106 (use SOURCE_DATE_EPOCH)", ErrOptions, opts.ModTime)
	}
	codec, err := newCodec(opts.Compression, opts.BlockSize)
	if err != nil {
		return err
	}
	w.codec, w.blockSize, w.mtime = codec, opts.BlockSize, uint32(secs)
	w.buf = make([]byte, opts.BlockSize)
	return nil
}

// AddDir adds the directory name, or sets the mode of the root with ".".
func (w *Writer) AddDir(name string, mode fs.FileMode) error {
	if w.err != nil {
		return w.err
	}
	return w.stick(w.addDir(name, mode))
}

// AddFile adds the regular file name with the content read from r until EOF.
func (w *Writer) AddFile(name string, mode fs.FileMode, r io.Reader) error {
	if w.err != nil {
		return w.err
	}
	return w.stick(w.addFile(name, mode, r))
}

// AddSymlink adds the symbolic link name pointing at target, with mode 0777.
func (w *Writer) AddSymlink(name, target string) error {
	if w.err != nil {
		return w.err
	}
	return w.stick(w.addSymlink(name, target))
}

// AddLink adds name as a hard link to the regular file target, a path in the image: both
// entries are one inode, with the same data, mode and inode number. target may be added
// before or after the link; Close reports a target that is missing or not a regular file.
func (w *Writer) AddLink(name, target string) error {
	if w.err != nil {
		return w.err
	}
	return w.stick(w.addLink(name, target))
}

// Close writes the image: superblock, data and fragment blocks, then the
// inode, directory, fragment and id tables, padded to a multiple of 4 KiB.
// It does not close the underlying writer.
func (w *Writer) Close() error {
	if w.err == ErrClosed {
		return nil
	}
	if w.err != nil {
		return w.err
	}
	defer w.codec.close()
	if err := w.writeImage(); err != nil {
		return w.stick(err)
	}
	w.err = ErrClosed
	return nil
}

func (w *Writer) stick(err error) error {
	w.err = err
	return err
}
