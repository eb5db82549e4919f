package fat

import (
	"encoding/binary"
	"fmt"
)

const (
	mediaFixed    = 0xF8
	fsInfoSector  = 1
	backupBootSec = 6 // and its FSInfo copy right after
	noLabel       = "NO NAME"
)

// bootRegion is the reserved region: the boot sector, and on FAT32 the
// FSInfo sector and their backups.
func (v *volume) bootRegion() []byte {
	region := make([]byte, int(v.geo.reserved)*sectorSize)
	boot := v.bootSector()
	copy(region, boot)
	if v.geo.typ == FAT32 {
		info := v.fsInfo()
		copy(region[fsInfoSector*sectorSize:], info)
		copy(region[backupBootSec*sectorSize:], boot)
		copy(region[(backupBootSec+1)*sectorSize:], info)
	}
	return region
}

// bootSector is the BIOS parameter block and its extension (fatgen103,
// "Boot Sector and BPB").
func (v *volume) bootSector() []byte {
	g := v.geo
	b := make([]byte, sectorSize)
	le16, le32 := binary.LittleEndian.PutUint16, binary.LittleEndian.PutUint32
	ext := 36 // the extended BPB: drive number, signature, ID, label, type
	if g.typ == FAT32 {
		ext = 64
	}
	copy(b[0:3], []byte{0xEB, byte(ext + 26 - 2), 0x90}) // jmp short to the code after the BPB
	copy(b[3:11], "MSWIN4.1")                            // the OEM name fatgen103 recommends
	le16(b[11:], sectorSize)
	b[13] = byte(g.sectorsPerCluster)
	le16(b[14:], uint16(g.reserved))
	b[16] = fatCount
	le16(b[17:], uint16(g.rootEntries))
	if g.typ != FAT32 && g.sectors <= 0xFFFF {
		le16(b[19:], uint16(g.sectors))
	} else {
		le32(b[32:], g.sectors)
	}
	b[21] = mediaFixed
	le16(b[24:], 63)  // sectors per track, for INT 13h only
	le16(b[26:], 255) // heads, likewise
	if g.typ == FAT32 {
		le32(b[36:], g.fatSectors)
		le32(b[44:], v.root.cluster)
		le16(b[48:], fsInfoSector)
		le16(b[50:], backupBootSec)
	} else {
		le16(b[22:], uint16(g.fatSectors))
	}
	b[ext] = 0x80   // drive number: a hard disk
	b[ext+2] = 0x29 // the next three fields are present
	le32(b[ext+3:], v.opts.VolumeID)
	label := v.opts.Label
	if label == "" {
		label = noLabel
	}
	copy(b[ext+7:ext+18], fmt.Sprintf("%-11s", label))
	copy(b[ext+18:ext+26], fmt.Sprintf("%-8s", g.typ.String()))
	copy(b[ext+26:], []byte{0xCD, 0x18}) // INT 18h: not bootable, try the next device
	b[510], b[511] = 0x55, 0xAA
	return b
}

// fsInfo is the FAT32 FSInfo sector with the real free count and the first
// free cluster as the allocation hint.
func (v *volume) fsInfo() []byte {
	b := make([]byte, sectorSize)
	binary.LittleEndian.PutUint32(b[0:], 0x41615252)
	binary.LittleEndian.PutUint32(b[484:], 0x61417272)
	free, next := v.freeClusters(), v.next
	if free == 0 {
		next = 0xFFFFFFFF
	}
	binary.LittleEndian.PutUint32(b[488:], free)
	binary.LittleEndian.PutUint32(b[492:], next)
	binary.LittleEndian.PutUint32(b[508:], 0xAA550000)
	return b
}

// table is one FAT: the media and clean-shutdown entries 0 and 1, then one
// chain per allocated node.
func (v *volume) table() []byte {
	t := fatTable{typ: v.geo.typ, b: make([]byte, int(v.geo.fatSectors)*sectorSize)}
	eoc := t.endOfChain()
	t.set(0, eoc&^0xFF|mediaFixed)
	t.set(1, eoc)
	for _, n := range v.used {
		for c := n.cluster; c < n.cluster+n.clusters-1; c++ {
			t.set(c, c+1)
		}
		t.set(n.cluster+n.clusters-1, eoc)
	}
	return t.b
}

type fatTable struct {
	typ Type
	b   []byte
}

func (t fatTable) endOfChain() uint32 {
	switch t.typ {
	case FAT12:
		return 0xFFF
	case FAT16:
		return 0xFFFF
	}
	return 0x0FFFFFFF
}

func (t fatTable) set(cluster, value uint32) {
	switch t.typ {
	case FAT12:
		off := cluster * 3 / 2
		if cluster%2 == 0 {
			t.b[off] = byte(value)
			t.b[off+1] = t.b[off+1]&0xF0 | byte(value>>8)&0x0F
		} else {
			t.b[off] = t.b[off]&0x0F | byte(value<<4)
			t.b[off+1] = byte(value >> 4)
		}
	case FAT16:
		binary.LittleEndian.PutUint16(t.b[cluster*2:], uint16(value))
	default:
		binary.LittleEndian.PutUint32(t.b[cluster*4:], value)
	}
}
