package stateheader

import (
	"errors"
	"testing"
)

// FuzzParse feeds one copy's slot (the fuzzer's bytes, zero-padded) into both copies'
// places and checks Parse never panics and only returns headers that re-marshal to
// the bytes it read.
func FuzzParse(f *testing.F) {
	area, _ := Marshal(goldenHeader())
	f.Add(area[:fixedSize+64+checksumSize])
	plain, _ := Marshal(Header{Mode: ModePlain, DataOffset: DataOffset})
	f.Add(plain[:fixedSize+checksumSize])
	f.Add([]byte("KILNSTATE"))
	f.Fuzz(func(t *testing.T, slot []byte) {
		if len(slot) > CopySize {
			slot = slot[:CopySize]
		}
		area := make([]byte, AreaSize)
		copy(area, slot)
		h, _, err := Parse(area)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnformatted) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		again, err := Marshal(h)
		if err != nil {
			t.Fatalf("parsed header does not marshal: %v", err)
		}
		one := encodeCopy(h)
		if string(again[:len(one)]) != string(area[:len(one)]) {
			t.Fatal("parsed header re-marshals to different bytes")
		}
	})
}
