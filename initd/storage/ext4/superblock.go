package ext4

import (
	"encoding/binary"
	"fmt"
	"io"
)

// Offsets into the primary superblock, which starts 1024 bytes into the device
// (linux/fs/ext4/ext4.h, struct ext4_super_block).
const (
	superblockOffset = 1024
	superblockSize   = 1024
	offBlocksCountLo = 0x04
	offLogBlockSize  = 0x18
	offMagic         = 0x38
	offIncompat      = 0x60
	offVolumeName    = 0x78
	offBlocksCountHi = 0x150
	magic            = 0xEF53
	incompat64Bit    = 0x80
)

// Superblock is what the storage phase needs to know about an existing filesystem.
type Superblock struct {
	BlockSize  int64
	BlockCount uint64
	Label      string
}

// Size is the filesystem's size in bytes.
func (s Superblock) Size() int64 { return int64(s.BlockCount) * s.BlockSize }

// ReadSuperblock reads the primary superblock of the filesystem at the start of r.
// A device without the magic 0xEF53 at byte 1080 gives ErrNotExt4.
func ReadSuperblock(r io.ReaderAt) (Superblock, error) {
	buf := make([]byte, superblockSize)
	if _, err := r.ReadAt(buf, superblockOffset); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return Superblock{}, ErrNotExt4
		}
		return Superblock{}, err
	}
	return parseSuperblock(buf)
}

func parseSuperblock(buf []byte) (Superblock, error) {
	le := binary.LittleEndian
	if len(buf) < superblockSize || le.Uint16(buf[offMagic:]) != magic {
		return Superblock{}, ErrNotExt4
	}
	logBlock := le.Uint32(buf[offLogBlockSize:])
	// ext4 block sizes are 1 KiB << s_log_block_size, at most 64 KiB.
	if logBlock > 6 {
		return Superblock{}, fmt.Errorf("ext4: block size 1024<<%d out of range", logBlock)
	}
	count := uint64(le.Uint32(buf[offBlocksCountLo:]))
	if le.Uint32(buf[offIncompat:])&incompat64Bit != 0 {
		count |= uint64(le.Uint32(buf[offBlocksCountHi:])) << 32
	}
	return Superblock{
		BlockSize:  1024 << logBlock,
		BlockCount: count,
		Label:      cString(buf[offVolumeName : offVolumeName+MaxLabel]),
	}, nil
}

func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}
