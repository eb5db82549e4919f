package install

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf16"

	"github.com/kiln-os/kiln/bootloader/entry"
	"github.com/kiln-os/kiln/internal/guid"
	"github.com/kiln-os/kiln/pipeline/disk/fat"
	"github.com/kiln-os/kiln/pipeline/disk/layout"
)

// Signature is one thing Probe found on a disk.
type Signature struct {
	Name   string // e.g. "gpt", "ext4", "ext4 in partition 3"
	Offset int64  // byte offset of the magic on the disk
	Length int    // bytes of the magic
}

func (s Signature) String() string { return fmt.Sprintf("%s at %d", s.Name, s.Offset) }

// Found is what a disk holds.
type Found struct {
	Signatures []Signature
	// Kiln: the disk's GPT has Kiln's layout, partitions 1-3 labelled EFI, STATE and
	// EPHEMERAL with the EFI System and Linux filesystem types. The table decides, not
	// the ESP's content: a table that says Kiln is Kiln's to boot or to repair, never to
	// overwrite without wipe.
	Kiln bool
	// KilnUKIs are the EFI/Linux/kiln-*.efi names on a Kiln disk's ESP, for the report;
	// empty when the ESP does not read as FAT.
	KilnUKIs []string
	// KilnESP is a Kiln disk's ESP (partition 1) as a boot entry's device path names it,
	// in 512-byte sectors; nil unless Kiln and the table uses 512-byte sectors.
	KilnESP *BootEntry
}

// Empty reports that Probe found nothing: the disk may be written without wipe.
func (f Found) Empty() bool { return len(f.Signatures) == 0 }

func (f Found) String() string {
	s := make([]string, len(f.Signatures))
	for i, sig := range f.Signatures {
		s[i] = sig.String()
	}
	return strings.Join(s, ", ")
}

// magic is a signature at a fixed offset from the start of a disk or partition.
type magic struct {
	name  string
	off   int64
	bytes string
}

// filesystems are the signatures Probe looks for at the start of the disk and of every
// partition, at the offsets util-linux's libblkid probes (libblkid/src/superblocks/*.c)
// and the formats' own documents give.
var filesystems = []magic{
	// ext2/3/4: the superblock is at 1024, s_magic 0xEF53 (little-endian) at +0x38
	// (kernel Documentation/filesystems/ext4/super.rst).
	{"ext2/3/4", 1024 + 0x38, "\x53\xef"},
	// XFS: sb_magicnum "XFSB" at the start of the superblock, sector 0 (XFS Algorithms
	// & Data Structures, "Superblocks").
	{"xfs", 0, "XFSB"},
	// Btrfs: the superblock is at 64 KiB, magic "_BHRfS_M" at +0x40 (btrfs docs,
	// "On-disk format").
	{"btrfs", 65536 + 0x40, "_BHRfS_M"},
	// SquashFS: s_magic 0x73717368 little-endian, "hsqs" at 0 (squashfs-tools format).
	{"squashfs", 0, "hsqs"},
	// LUKS1 and LUKS2: "LUKS\xba\xbe" at 0; LUKS2's second header at one of the
	// offsets the LUKS2 on-disk format lists, with "SKUL\xba\xbe".
	{"luks", 0, "LUKS\xba\xbe"},
	{"luks2 secondary", 16 << 10, "SKUL\xba\xbe"},
	{"luks2 secondary", 32 << 10, "SKUL\xba\xbe"},
	{"luks2 secondary", 64 << 10, "SKUL\xba\xbe"},
	{"luks2 secondary", 128 << 10, "SKUL\xba\xbe"},
	{"luks2 secondary", 256 << 10, "SKUL\xba\xbe"},
	{"luks2 secondary", 512 << 10, "SKUL\xba\xbe"},
	{"luks2 secondary", 1 << 20, "SKUL\xba\xbe"},
	{"luks2 secondary", 2 << 20, "SKUL\xba\xbe"},
	{"luks2 secondary", 4 << 20, "SKUL\xba\xbe"},
	// ISO 9660: the first volume descriptor is at sector 16 (2048-byte sectors), its
	// standard identifier "CD001" at +1 (ECMA-119 8.1).
	{"iso9660", 16*2048 + 1, "CD001"},
	// Linux swap: "SWAPSPACE2" (or the old "SWAP-SPACE") in the last 10 bytes of the
	// first page; libblkid tries page sizes 4, 8, 16, 32 and 64 KiB.
	{"swap", 4096 - 10, "SWAPSPACE2"},
	{"swap", 4096 - 10, "SWAP-SPACE"},
	{"swap", 8192 - 10, "SWAPSPACE2"},
	{"swap", 16384 - 10, "SWAPSPACE2"},
	{"swap", 32768 - 10, "SWAPSPACE2"},
	{"swap", 65536 - 10, "SWAPSPACE2"},
	// LVM2 physical volume: the label "LABELONE" in one of the first four sectors, type
	// "LVM2 001" at +24 (lvm2 lib/label/label.c); pvcreate writes sector 1.
	{"lvm2", 512, "LABELONE"},
	// Kiln's STATE header, both copies (initd/storage/stateheader).
	{"kiln-state", 0, "KILNSTATE"},
	{"kiln-state", 512 << 10, "KILNSTATE"},
}

// The FAT boot sector (fatgen103, "Boot Sector and BPB"): a jump at 0, the 0x55AA
// signature at 510, and the informational type string at 54 (FAT12/16) or 82 (FAT32),
// which libblkid also uses to tell FAT from an MBR.
const (
	fatType1632 = 54
	fatType32   = 82
	bootSig     = 510
)

const sector = 512

// probeBytes is how much of the start of a disk or partition Probe reads: the farthest
// magic ends within it (LUKS2's last secondary header at 4 MiB).
const probeBytes = 4<<20 + sector

// Probe reports what the disk (or image) of size bytes behind r holds: a GPT (primary or
// backup; 512- and 4096-byte sectors), an MBR partition table, and the file system and
// other signatures above, at the start of the disk and of every partition a GPT or MBR
// names. It never writes. Only a read error fails it: the disk's bytes are untrusted and
// every offset taken from them is checked against size.
func Probe(r io.ReaderAt, size int64) (Found, error) {
	var f Found
	buf := make([]byte, probeBytes) // one buffer for the disk's start and each partition's
	head, err := readAt(r, buf, 0, min(size, probeBytes))
	if err != nil {
		return f, err
	}
	f.Signatures = append(f.Signatures, scan(head, 0, "")...)
	head = slices.Clone(head[:min(len(head), sector)])
	parts, kiln, esp, sigs, err := probeGPT(r, size)
	if err != nil {
		return f, err
	}
	f.Signatures = append(f.Signatures, sigs...)
	f.Kiln, f.KilnESP = kiln, esp
	if kiln && len(parts) > 0 {
		f.KilnUKIs = kilnUKIs(io.NewSectionReader(r, parts[0].off, parts[0].size))
	}
	if mbr, mparts := probeMBR(head, size); mbr != nil {
		f.Signatures = append(f.Signatures, *mbr)
		if len(parts) == 0 {
			parts = mparts
		}
	}
	for i, p := range parts {
		if p.off == 0 {
			continue
		}
		b, err := readAt(r, buf, p.off, min(p.size, probeBytes))
		if err != nil {
			return f, err
		}
		f.Signatures = append(f.Signatures, scan(b, p.off, fmt.Sprintf(" in partition %d", i+1))...)
	}
	slices.SortStableFunc(f.Signatures, func(a, b Signature) int { return cmp.Compare(a.Offset, b.Offset) })
	return f, nil
}

// readAt reads n bytes at off into buf (nil: a new one); a short read at the end of
// the disk is not an error.
func readAt(r io.ReaderAt, buf []byte, off, n int64) ([]byte, error) {
	if n <= 0 {
		return nil, nil
	}
	b := buf[:min(n, int64(len(buf)))]
	if buf == nil {
		b = make([]byte, n)
	}
	k, err := r.ReadAt(b, off)
	if err != nil && err != io.EOF {
		return nil, fmt.Errorf("read %d bytes at %d: %w", n, off, err)
	}
	return b[:k], nil
}

// scan finds the file system signatures in b, the first bytes of a disk or partition
// at off.
func scan(b []byte, off int64, where string) []Signature {
	var out []Signature
	for _, m := range filesystems {
		if has(b, m.off, m.bytes) {
			out = append(out, Signature{m.name + where, off + m.off, len(m.bytes)})
		}
	}
	if isFAT(b) {
		out = append(out, Signature{"vfat" + where, off, sector})
	}
	return out
}

func has(b []byte, off int64, s string) bool {
	return off >= 0 && off+int64(len(s)) <= int64(len(b)) && string(b[off:off+int64(len(s))]) == s
}

func isFAT(b []byte) bool {
	if len(b) < sector || b[bootSig] != 0x55 || b[bootSig+1] != 0xAA || (b[0] != 0xEB && b[0] != 0xE9) {
		return false
	}
	return has(b, fatType1632, "FAT") || has(b, fatType32, "FAT32")
}

// extent is a partition's place on the disk, in bytes.
type extent struct{ off, size int64 }

// probeMBR returns the MBR partition table signature and its partitions, or nil when
// sector 0 has no 0x55AA or is a FAT boot sector (a file system on the whole disk,
// which scan reports). An MBR with no partition entry is still reported: it is a table.
func probeMBR(head []byte, size int64) (*Signature, []extent) {
	if len(head) < sector || head[bootSig] != 0x55 || head[bootSig+1] != 0xAA || isFAT(head) {
		return nil, nil
	}
	var parts []extent
	for i := range 4 {
		e := head[446+16*i : 446+16*(i+1)]
		if e[4] == 0 || e[4] == 0xEE {
			continue
		}
		start := int64(binary.LittleEndian.Uint32(e[8:])) * sector
		n := int64(binary.LittleEndian.Uint32(e[12:])) * sector
		if start > 0 && n > 0 && start < size {
			parts = append(parts, extent{start, min(n, size-start)})
		}
	}
	return &Signature{Name: "mbr", Offset: bootSig, Length: 2}, parts
}

// GPT header fields (UEFI 2.10 §5.3.2, Table 5.5) and entry fields (§5.3.3, Table 5.6).
const (
	gptSignature   = "EFI PART"
	gptEntriesLBA  = 72
	gptEntryCount  = 80
	gptEntrySize   = 84
	maxGPTEntries  = 1024 // more than any tool writes; bounds what Probe reads
	maxGPTEntrySz  = 4096
	entryNameStart = 56
	entryNameLen   = 72
)

// probeGPT looks for a GPT header at LBA 1 and at the last LBA, for 512- and 4096-byte
// sectors, and returns every header found as a signature, the partitions of the first
// one whose entry array reads, and whether they are Kiln's layout. CRCs are not
// required: a damaged table is still someone's data.
func probeGPT(r io.ReaderAt, size int64) ([]extent, bool, *BootEntry, []Signature, error) {
	var sigs []Signature
	var parts []extent
	var kiln bool
	var esp *BootEntry
	for _, ss := range []int64{512, 4096} {
		for _, lba := range []int64{1, size/ss - 1} {
			off := lba * ss
			if lba < 1 || off+ss > size {
				continue
			}
			hdr, err := readAt(r, nil, off, sector)
			if err != nil {
				return nil, false, nil, nil, err
			}
			if !has(hdr, 0, gptSignature) {
				continue
			}
			name := "gpt"
			if lba != 1 {
				name = "gpt backup"
			}
			sigs = append(sigs, Signature{name, off, len(gptSignature)})
			if parts != nil {
				continue
			}
			names, ext, err := gptEntries(r, hdr, ss, size)
			if err != nil {
				return nil, false, nil, nil, err
			}
			parts, kiln = ext, isKilnLayout(names)
			if n := names[0]; kiln && ss == sector && n.first > 0 && n.last >= n.first && n.last < uint64(size/ss) {
				esp = &BootEntry{PartitionNumber: 1, StartLBA: names[0].first, SizeLBA: names[0].last - names[0].first + 1,
					PartitionGUID: guid.FromEFI(names[0].unique[:])}
			}
			if parts == nil {
				parts = []extent{}
			}
		}
	}
	return parts, kiln, esp, sigs, nil
}

// gptEntries reads the entry array a header names: the partitions' names (with their
// type GUIDs, to tell Kiln's layout) and extents, in entry order, skipping unused
// entries. An array that lies outside the disk yields nothing.
func gptEntries(r io.ReaderAt, hdr []byte, ss, size int64) ([]gptName, []extent, error) {
	lba := binary.LittleEndian.Uint64(hdr[gptEntriesLBA:])
	count := int64(binary.LittleEndian.Uint32(hdr[gptEntryCount:]))
	esize := int64(binary.LittleEndian.Uint32(hdr[gptEntrySize:]))
	if count <= 0 || count > maxGPTEntries || esize < 128 || esize > maxGPTEntrySz || esize%8 != 0 ||
		lba == 0 || lba > uint64(size/ss) || int64(lba)*ss+count*esize > size {
		return nil, nil, nil
	}
	array, err := readAt(r, nil, int64(lba)*ss, count*esize)
	if err != nil {
		return nil, nil, err
	}
	var names []gptName
	var parts []extent
	for i := int64(0); i+esize <= int64(len(array)); i += esize {
		e := array[i : i+esize]
		if bytes.Equal(e[:16], make([]byte, 16)) {
			continue
		}
		first, last := binary.LittleEndian.Uint64(e[32:]), binary.LittleEndian.Uint64(e[40:])
		names = append(names, gptName{typ: [16]byte(e[:16]), unique: [16]byte(e[16:32]), first: first, last: last,
			name: utf16Name(e[entryNameStart : entryNameStart+entryNameLen])})
		if first == 0 || last < first || last >= uint64(size/ss) {
			continue
		}
		parts = append(parts, extent{int64(first) * ss, int64(last-first+1) * ss})
	}
	return names, parts, nil
}

type gptName struct {
	typ         [16]byte // the type GUID as stored (mixed-endian)
	unique      [16]byte // the partition's own GUID, as stored
	first, last uint64   // LBAs, as stored (checked by the caller before use)
	name        string
}

func utf16Name(b []byte) string {
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		c := binary.LittleEndian.Uint16(b[i:])
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	return string(utf16.Decode(u))
}

// isKilnLayout: exactly layout.Partitions()'s labels and types, in order.
func isKilnLayout(names []gptName) bool {
	want := layout.Partitions().Partitions
	if len(names) != len(want) {
		return false
	}
	for i, p := range want {
		var typ [16]byte
		p.Type.PutEFI(typ[:])
		if names[i].name != p.Name || names[i].typ != typ {
			return false
		}
	}
	return true
}

// kilnUKIs lists the Kiln UKIs of the FAT volume esp; nil if it does not read.
func kilnUKIs(esp *io.SectionReader) []string {
	fsys, err := fat.Open(esp, esp.Size())
	if err != nil {
		return nil
	}
	names, _ := kilnNames(fsys)
	return names
}

// kilnNames lists the EFI/Linux/kiln-*.efi files of a FAT volume.
func kilnNames(fsys *fat.FS) ([]string, error) {
	entries, err := fsys.ReadDir(LinuxDir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if _, err := entry.Parse(e.Name); err == nil && !e.IsDir && strings.HasPrefix(e.Name, entry.Prefix) {
			names = append(names, e.Name)
		}
	}
	return names, nil
}
