package ext4

import (
	"encoding/binary"
	"testing"
)

func FuzzParseSuperblock(f *testing.F) {
	valid := make([]byte, superblockSize)
	binary.LittleEndian.PutUint16(valid[offMagic:], magic)
	binary.LittleEndian.PutUint32(valid[offLogBlockSize:], 2)
	binary.LittleEndian.PutUint32(valid[offBlocksCountLo:], 25600)
	f.Add(valid)
	f.Add(make([]byte, superblockSize))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, buf []byte) {
		sb, err := parseSuperblock(buf)
		if err != nil {
			return
		}
		if sb.BlockSize < 1024 || sb.BlockSize > 65536 || len(sb.Label) > MaxLabel {
			t.Fatalf("accepted impossible superblock %+v", sb)
		}
	})
}
