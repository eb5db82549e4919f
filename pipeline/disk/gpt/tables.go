package gpt

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"unicode/utf16"

	"github.com/kiln-os/kiln/internal/guid"
)

const (
	headerSize     = 92
	headerRevision = 0x00010000
	mbrTypeGPT     = 0xEE
)

// writeTables writes the protective MBR, the primary header and entries at
// the start of the disk, and the backup entries and header at its end.
func (t *Table) writeTables(w io.WriterAt, types []guid.GUID) error {
	entries := t.entries(types)
	crc := crc32.ChecksumIEEE(entries)
	last := t.Sectors - 1

	head := make([]byte, 0, (2+entrySectors)*sectorSize)
	head = append(head, t.protectiveMBR()...)
	head = append(head, t.header(1, last, 2, crc)...)
	head = append(head, entries...)
	if _, err := w.WriteAt(head, 0); err != nil {
		return fmt.Errorf("gpt: primary table: %w", err)
	}

	backupEntries := last - entrySectors
	tail := append(entries[:len(entries):len(entries)], t.header(last, 1, backupEntries, crc)...)
	if _, err := w.WriteAt(tail, backupEntries*sectorSize); err != nil {
		return fmt.Errorf("gpt: backup table: %w", err)
	}
	return nil
}

// protectiveMBR is LBA 0: one partition of type 0xEE from LBA 1 over the
// whole disk (or 2 TiB, as much as the field holds), so MBR-only tools see
// the disk as in use.
func (t *Table) protectiveMBR() []byte {
	b := make([]byte, sectorSize)
	e := b[446:462]
	copy(e[1:4], []byte{0x00, 0x02, 0x00}) // CHS of LBA 1
	e[4] = mbrTypeGPT
	copy(e[5:8], []byte{0xFF, 0xFF, 0xFF}) // CHS past what it can address
	binary.LittleEndian.PutUint32(e[8:], 1)
	binary.LittleEndian.PutUint32(e[12:], uint32(min(t.Sectors-1, math.MaxUint32)))
	b[510], b[511] = 0x55, 0xAA
	return b
}

// header is a GPT header sector at LBA my, with its copy at alternate and
// the entry array at entriesLBA.
func (t *Table) header(my, alternate, entriesLBA int64, entriesCRC uint32) []byte {
	b := make([]byte, sectorSize)
	le32, le64 := binary.LittleEndian.PutUint32, binary.LittleEndian.PutUint64
	copy(b[0:8], "EFI PART")
	le32(b[8:], headerRevision)
	le32(b[12:], headerSize)
	le64(b[24:], uint64(my))
	le64(b[32:], uint64(alternate))
	le64(b[40:], uint64(t.firstUsable()))
	le64(b[48:], uint64(t.lastUsable()))
	t.DiskGUID.PutEFI(b[56:])
	le64(b[72:], uint64(entriesLBA))
	le32(b[80:], entryCount)
	le32(b[84:], entrySize)
	le32(b[88:], entriesCRC)
	le32(b[16:], crc32.ChecksumIEEE(b[:headerSize]))
	return b
}

// entries is the partition entry array, unused entries all zero.
func (t *Table) entries(types []guid.GUID) []byte {
	b := make([]byte, entryCount*entrySize)
	for i, p := range t.Partitions {
		e := b[i*entrySize : (i+1)*entrySize]
		types[i].PutEFI(e[0:])
		p.GUID.PutEFI(e[16:])
		binary.LittleEndian.PutUint64(e[32:], uint64(p.Offset/sectorSize))
		binary.LittleEndian.PutUint64(e[40:], uint64((p.Offset+p.Size)/sectorSize-1))
		for j, u := range utf16.Encode([]rune(p.Name)) {
			binary.LittleEndian.PutUint16(e[56+2*j:], u)
		}
	}
	return b
}
