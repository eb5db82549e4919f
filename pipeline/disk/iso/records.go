package iso

import (
	"encoding/binary"
	"fmt"
	"time"
)

const (
	flagDirectory = 0x02
	recordHeader  = 33 // a directory record before its identifier
)

// both16 and both32 write the "both-byte orders" numbers of ECMA-119 7.2.3
// and 7.3.3: little-endian, then big-endian.
func both16(b []byte, v uint16) {
	binary.LittleEndian.PutUint16(b, v)
	binary.BigEndian.PutUint16(b[2:], v)
}

func both32(b []byte, v uint32) {
	binary.LittleEndian.PutUint32(b, v)
	binary.BigEndian.PutUint32(b[4:], v)
}

// clampTime keeps t in UTC and within what a directory record's one-byte
// year (1900 + 0..255) holds.
func clampTime(t time.Time) time.Time {
	t = t.UTC()
	switch {
	case t.Year() < 1900:
		return time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)
	case t.Year() > 2155:
		return time.Date(2155, 12, 31, 23, 59, 59, 0, time.UTC)
	}
	return t
}

// recordDate is the 7-byte date of a directory record (ECMA-119 9.1.5),
// offset from GMT 0.
func recordDate(t time.Time) []byte {
	t = clampTime(t)
	return []byte{byte(t.Year() - 1900), byte(t.Month()), byte(t.Day()), byte(t.Hour()), byte(t.Minute()), byte(t.Second()), 0}
}

// volumeDate is the 17-byte date of a volume descriptor (ECMA-119 8.4.26.1):
// digits to the hundredth of a second, then the GMT offset.
func volumeDate(t time.Time) []byte {
	t = clampTime(t)
	s := fmt.Sprintf("%04d%02d%02d%02d%02d%02d%02d", t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond()/1e7)
	return append([]byte(s), 0)
}

// unsetVolumeDate is "not specified": sixteen '0' digits and offset 0.
func unsetVolumeDate() []byte { return append([]byte("0000000000000000"), 0) }

// record is the directory record of n under identifier id (ECMA-119 9.1),
// padded to an even length.
func (im *image) record(n *node, id []byte) []byte {
	length := recordHeader + len(id)
	length += length % 2
	r := make([]byte, length)
	r[0] = byte(length)
	both32(r[2:], n.extent)
	both32(r[10:], n.size)
	copy(r[18:25], recordDate(im.opts.ModTime))
	if n.dir {
		r[25] = flagDirectory
	}
	both16(r[28:], 1) // volume sequence number
	r[32] = byte(len(id))
	copy(r[33:], id)
	return r
}

// dirBytes is directory d: ".", "..", then the children, no record crossing
// a block boundary (ECMA-119 6.8.1.1), padded to whole blocks.
func (im *image) dirBytes(d *node) []byte {
	records := [][]byte{im.record(d, []byte{0}), im.record(d.parent, []byte{1})}
	for _, c := range d.children {
		records = append(records, im.record(c, []byte(c.id())))
	}
	var b []byte
	for _, r := range records {
		if room := blockSize - len(b)%blockSize; len(r) > room {
			b = append(b, make([]byte, room)...)
		}
		b = append(b, r...)
	}
	return padBlock(b)
}

// pathTable is the Type L (little-endian) or Type M (big-endian) path
// table (ECMA-119 9.4), unpadded.
func (im *image) pathTable(bigEndian bool) []byte {
	order := binary.ByteOrder(binary.LittleEndian)
	if bigEndian {
		order = binary.BigEndian
	}
	var b []byte
	for _, d := range im.dirs {
		id := []byte(d.base)
		if d == im.root {
			id = []byte{0}
		}
		r := make([]byte, 8+len(id)+len(id)%2)
		r[0] = byte(len(id))
		order.PutUint32(r[2:], d.extent)
		order.PutUint16(r[6:], uint16(d.parent.number))
		copy(r[8:], id)
		b = append(b, r...)
	}
	return b
}

// padBlock pads b with zeros to whole blocks, at least one.
func padBlock(b []byte) []byte {
	n := max(1, blocks(uint64(len(b)))) * blockSize
	return append(b, make([]byte, int(n)-len(b))...)
}
