package squashfs

import (
	"bytes"
	"math/rand"
	"testing"
	"time"
)

// Stored accounts for every data byte of the image: the files' shares add up to the data
// and fragment blocks (within rounding), the incompressible file comes first and costs
// about its size, the compressible one far less.
func TestStored(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	random := make([]byte, 3*DefaultBlockSize+100)
	rng.Read(random)
	zeros := make([]byte, 2*DefaultBlockSize+5000)
	var img bytes.Buffer
	w := NewWriter(&img, Options{Compression: ZSTD, ModTime: time.Unix(1, 0)})
	if w.Stored() != nil {
		t.Error("Stored before Close is not nil")
	}
	w.AddDir("usr", 0o755)
	w.AddFile("usr/random", 0o755, bytes.NewReader(random))
	w.AddFile("zeros", 0o644, bytes.NewReader(zeros))
	w.AddFile("small", 0o644, bytes.NewReader([]byte("hello")))
	w.AddSymlink("link", "small")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got := w.Stored()
	if len(got) != 3 || got[0].Path != "usr/random" || got[0].Size != uint64(len(random)) {
		t.Fatalf("Stored = %+v", got)
	}
	if got[0].Stored < uint64(len(random))*99/100 {
		t.Errorf("random data stored in %d bytes, less than its %d", got[0].Stored, len(random))
	}
	var sum uint64
	for _, f := range got {
		sum += f.Stored
	}
	var data uint64
	for _, c := range w.layout.chunks {
		data += uint64(len(c))
	}
	if sum > data || data-sum > uint64(len(got)) { // each tail's share rounds down by < 1 byte
		t.Errorf("files' shares add up to %d, the data blocks are %d bytes", sum, data)
	}
	for _, f := range got[1:] {
		if f.Size > DefaultBlockSize && f.Stored >= f.Size/10 {
			t.Errorf("%s: %d stored of %d, want it compressed", f.Path, f.Stored, f.Size)
		}
	}
}
