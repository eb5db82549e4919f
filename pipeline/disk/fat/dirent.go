package fat

import (
	"encoding/binary"
	"time"
	"unicode/utf16"
)

// Directory entry attributes.
const (
	attrVolumeID  = 0x08
	attrDirectory = 0x10
	attrArchive   = 0x20
	attrLongName  = 0x0F // read-only, hidden, system and volume ID together

	lfnCharsPerSlot = 13
	lfnLast         = 0x40 // ordinal flag of the first-stored, last-in-name slot
	maxLongName     = 255
)

// stamp is a time in the directory entry encoding: local-time fields with no
// zone, 2-second resolution, plus a tenths byte for the creation time.
type stamp struct {
	date, time uint16
	tenths     byte // 10 ms units, 0-199
}

// newStamp encodes t in UTC, clamped to the years FAT can hold.
func newStamp(t time.Time) stamp {
	t = t.UTC()
	switch {
	case t.Year() < 1980:
		t = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)
	case t.Year() > 2107:
		t = time.Date(2107, 12, 31, 23, 59, 58, 0, time.UTC)
	}
	return stamp{
		date:   uint16(t.Year()-1980)<<9 | uint16(t.Month())<<5 | uint16(t.Day()),
		time:   uint16(t.Hour())<<11 | uint16(t.Minute())<<5 | uint16(t.Second()/2),
		tenths: byte(t.Second()%2) * 100,
	}
}

// appendEntry appends a short directory entry.
func (s stamp) appendEntry(buf []byte, name shortName, attr byte, cluster, size uint32) []byte {
	var e [dirEntrySize]byte
	copy(e[0:11], name[:])
	e[11] = attr
	e[13] = s.tenths
	binary.LittleEndian.PutUint16(e[14:], s.time) // creation
	binary.LittleEndian.PutUint16(e[16:], s.date) // creation
	binary.LittleEndian.PutUint16(e[18:], s.date) // last access
	binary.LittleEndian.PutUint16(e[20:], uint16(cluster>>16))
	binary.LittleEndian.PutUint16(e[22:], s.time) // write
	binary.LittleEndian.PutUint16(e[24:], s.date) // write
	binary.LittleEndian.PutUint16(e[26:], uint16(cluster))
	binary.LittleEndian.PutUint32(e[28:], size)
	return append(buf, e[:]...)
}

func lfnUnits(name string) int { return len(utf16.Encode([]rune(name))) }

func lfnSlots(name string) int {
	return (lfnUnits(name) + lfnCharsPerSlot - 1) / lfnCharsPerSlot
}

// appendLFN appends the long-name entries of name, last part first, as they
// precede the short entry whose checksum is sum. The name ends with one NUL
// unit when it does not fill its last slot, and the rest is 0xFFFF.
func appendLFN(buf []byte, name string, sum byte) []byte {
	units := utf16.Encode([]rune(name))
	slots := lfnSlots(name)
	padded := make([]uint16, slots*lfnCharsPerSlot)
	for i := range padded {
		switch {
		case i < len(units):
			padded[i] = units[i]
		case i == len(units):
			padded[i] = 0
		default:
			padded[i] = 0xFFFF
		}
	}
	for ord := slots; ord >= 1; ord-- {
		buf = appendLFNSlot(buf, ord, ord == slots, sum, padded[(ord-1)*lfnCharsPerSlot:ord*lfnCharsPerSlot])
	}
	return buf
}

// appendLFNSlot appends one long-name entry holding 13 UTF-16 units.
func appendLFNSlot(buf []byte, ord int, last bool, sum byte, units []uint16) []byte {
	var e [dirEntrySize]byte
	e[0] = byte(ord)
	if last {
		e[0] |= lfnLast
	}
	e[11] = attrLongName
	e[13] = sum
	// Units 0-4 at bytes 1-10, 5-10 at 14-25, 11-12 at 28-31; 26-27 is the
	// always-zero cluster field.
	offsets := [lfnCharsPerSlot]int{1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30}
	for i, off := range offsets {
		binary.LittleEndian.PutUint16(e[off:], units[i])
	}
	return append(buf, e[:]...)
}
