package install

import (
	"bytes"
	"context"
	"os"
	"testing"
)

// FuzzProbe: Probe never panics and never reports a signature outside the disk, on any
// bytes and any claimed size. The seeds are an installed disk's tables (its first 64 KiB
// with the backup GPT moved next to it) and each signature alone.
func FuzzProbe(f *testing.F) {
	disk := newDiskTB(f)
	if _, err := Install(context.Background(), disk, MinDiskSize, testOptions(f)); err != nil {
		f.Fatal(err)
	}
	head := make([]byte, 64<<10)
	if _, err := disk.ReadAt(head, 0); err != nil {
		f.Fatal(err)
	}
	f.Add(head, int64(len(head)))
	for _, m := range filesystems {
		b := make([]byte, m.off+int64(len(m.bytes)))
		copy(b[m.off:], m.bytes)
		f.Add(b, int64(len(b)))
	}
	f.Fuzz(func(t *testing.T, data []byte, size int64) {
		found, err := Probe(bytes.NewReader(data), size)
		if err != nil {
			return
		}
		for _, s := range found.Signatures {
			if s.Offset < 0 || s.Offset+int64(s.Length) > max(size, 0) || s.Offset+int64(s.Length) > int64(len(data)) {
				t.Errorf("%s lies outside the %d bytes (size %d)", s, len(data), size)
			}
		}
	})
}

func newDiskTB(tb testing.TB) *os.File {
	f, err := os.CreateTemp(tb.TempDir(), "disk")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { f.Close() })
	if err := f.Truncate(MinDiskSize); err != nil {
		tb.Fatal(err)
	}
	return f
}
