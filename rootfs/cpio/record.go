package cpio

import "fmt"

const (
	magic       = "070701"
	headerSize  = 110 // magic and 13 fields of 8 hex digits
	trailerName = "TRAILER!!!"
)

// record is one archive member as the header describes it.
type record struct {
	name                 string
	mode                 uint32 // Unix type and permission bits
	nlink                uint32
	rdevMajor, rdevMinor uint32
	data                 []byte // file content or symlink target
}

// writeRecord writes the header, the NUL-terminated name and the data, each
// padded to a multiple of 4 bytes. uid, gid, the archive's device numbers
// and the checksum are always 0.
func (w *Writer) writeRecord(ino, mtime uint32, r record) error {
	fields := [13]uint32{
		ino, r.mode, 0, 0, r.nlink, mtime, uint32(len(r.data)),
		0, 0, r.rdevMajor, r.rdevMinor, uint32(len(r.name) + 1), 0,
	}
	b := make([]byte, 0, headerSize+len(r.name)+4)
	b = append(b, magic...)
	for _, f := range fields {
		b = fmt.Appendf(b, "%08X", f)
	}
	b = append(b, r.name...)
	b = append(b, 0)
	b = append(b, pad(len(b))...)
	if _, err := w.out.Write(b); err != nil {
		return err
	}
	if len(r.data) == 0 {
		return nil
	}
	if _, err := w.out.Write(r.data); err != nil {
		return err
	}
	_, err := w.out.Write(pad(len(r.data)))
	return err
}

var zeros [3]byte

// pad returns the zero bytes that bring n to a multiple of 4.
func pad(n int) []byte { return zeros[:(4-n%4)%4] }
