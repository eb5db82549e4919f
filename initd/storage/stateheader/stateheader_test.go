package stateheader

import (
	"bytes"
	"encoding/hex"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// goldenHeader is the header of testdata/sealed.golden: fixed UUID, a 64-byte blob
// counting 0..63. The golden file is hex.Dump of one copy, made with -update and
// checked by hand against the table in the package doc.
func goldenHeader() Header {
	h := Header{Mode: ModeSealed, Cipher: CipherXTS, DataOffset: DataOffset}
	for i := range h.UUID {
		h.UUID[i] = byte(0xa0 + i)
	}
	for i := range 64 {
		h.SealedKey = append(h.SealedKey, byte(i))
	}
	return h
}

func TestGolden(t *testing.T) {
	area, err := Marshal(goldenHeader())
	if err != nil {
		t.Fatal(err)
	}
	one := area[:fixedSize+64+checksumSize]
	path := filepath.Join("testdata", "sealed.golden")
	if *update {
		os.WriteFile(path, []byte(hex.Dump(one)), 0o644)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.Dump(one); got != string(want) {
		t.Errorf("copy 0 differs from %s:\n%s", path, got)
	}
	if !bytes.Equal(area[CopySize:CopySize+len(one)], one) {
		t.Error("copy 1 differs from copy 0")
	}
	rest := bytes.Clone(area)
	copy(rest[:len(one)], make([]byte, len(one)))
	copy(rest[CopySize:CopySize+len(one)], make([]byte, len(one)))
	if !allZero(rest) {
		t.Error("header area has bytes outside the two copies")
	}
}

func TestRoundTrip(t *testing.T) {
	for _, h := range []Header{goldenHeader(), {Mode: ModePlain, DataOffset: DataOffset, UUID: [16]byte{1}}} {
		area, err := Marshal(h)
		if err != nil {
			t.Fatal(err)
		}
		got, damaged, err := Parse(area)
		if err != nil || len(damaged) != 0 || !equal(got, h) {
			t.Errorf("%v: got %+v damaged %v err %v", h.Mode, got, damaged, err)
		}
	}
}

func TestUnformatted(t *testing.T) {
	if _, _, err := Parse(make([]byte, AreaSize)); !errors.Is(err, ErrUnformatted) {
		t.Errorf("all-zero area: %v, want ErrUnformatted", err)
	}
}

// TestTornCopies damages one copy at a time, as a torn write would, and checks the other
// is used and the damaged one is named.
func TestTornCopies(t *testing.T) {
	for copyIndex, off := range copyOffsets {
		for _, damage := range []struct {
			name string
			do   func(slot []byte)
		}{
			{"zeroed", func(s []byte) { copy(s, make([]byte, CopySize)) }},
			{"bit flip in blob", func(s []byte) { s[fixedSize+3] ^= 1 }},
			{"bit flip in checksum", func(s []byte) { s[fixedSize+64+5] ^= 0x80 }},
			{"half written", func(s []byte) { copy(s[50:], make([]byte, CopySize-50)) }},
			{"bad length", func(s []byte) { s[14] = 0xff }},
		} {
			area, _ := Marshal(goldenHeader())
			damage.do(area[off : off+CopySize])
			got, damaged, err := Parse(area)
			if err != nil || !equal(got, goldenHeader()) {
				t.Errorf("copy %d %s: %v", copyIndex, damage.name, err)
				continue
			}
			var ce *CopyError
			if len(damaged) != 1 || !errors.As(damaged[0], &ce) || ce.Copy != copyIndex {
				t.Errorf("copy %d %s: damaged = %v", copyIndex, damage.name, damaged)
			}
		}
	}
}

func TestBothCopiesBadIsCorrupt(t *testing.T) {
	area, _ := Marshal(goldenHeader())
	area[20] ^= 1
	area[CopySize+fixedSize] ^= 1
	_, damaged, err := Parse(area)
	if !errors.Is(err, ErrCorrupt) || errors.Is(err, ErrUnformatted) {
		t.Fatalf("err = %v, want ErrCorrupt", err)
	}
	if len(damaged) != 2 || !strings.Contains(err.Error(), "copy 0 at byte 0") || !strings.Contains(err.Error(), "copy 1 at byte 524288") {
		t.Errorf("error does not name both copies: %v", err)
	}
}

// A single stray byte far from both copies is not "unformatted": it must never be
// mistaken for a blank partition.
func TestStrayByteIsCorruptNotUnformatted(t *testing.T) {
	area := make([]byte, AreaSize)
	area[AreaSize-1] = 1
	if _, _, err := Parse(area); !errors.Is(err, ErrCorrupt) {
		t.Errorf("err = %v, want ErrCorrupt", err)
	}
}

func TestCopiesThatDisagree(t *testing.T) {
	older, _ := Marshal(goldenHeader())
	newer := goldenHeader()
	newer.SealedKey = []byte("resealed")
	area, _ := Marshal(newer)
	copy(area[CopySize:], older[CopySize:])
	got, damaged, err := Parse(area)
	if err != nil || string(got.SealedKey) != "resealed" || len(damaged) != 1 {
		t.Errorf("got %q damaged %v err %v, want copy 0 and copy 1 reported", got.SealedKey, damaged, err)
	}
}

func TestMarshalRefusesInvalid(t *testing.T) {
	for name, h := range map[string]Header{
		"sealed without key":   {Mode: ModeSealed, Cipher: CipherXTS, DataOffset: DataOffset},
		"plain with cipher":    {Mode: ModePlain, Cipher: CipherXTS, DataOffset: DataOffset},
		"unknown mode":         {Mode: 7, DataOffset: DataOffset},
		"offset in header":     {Mode: ModePlain, DataOffset: 8},
		"blob too big":         {Mode: ModeSealed, Cipher: CipherXTS, DataOffset: DataOffset, SealedKey: make([]byte, MaxSealedKey+1)},
		"cipher over 64 bytes": {Mode: ModeSealed, Cipher: strings.Repeat("x", 65), DataOffset: DataOffset, SealedKey: []byte{1}},
	} {
		if _, err := Marshal(h); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

type fileSyncer struct {
	area  []byte
	syncs []int // bytes written so far at each sync
	n     int
}

func (f *fileSyncer) WriteAt(p []byte, off int64) (int, error) {
	copy(f.area[off:], p)
	f.n += len(p)
	return len(p), nil
}

func (f *fileSyncer) Sync() error { f.syncs = append(f.syncs, f.n); return nil }

func TestWriteSyncsBetweenCopies(t *testing.T) {
	dev := &fileSyncer{area: make([]byte, AreaSize)}
	if err := Write(dev, goldenHeader()); err != nil {
		t.Fatal(err)
	}
	if len(dev.syncs) != 2 || dev.syncs[0] != CopySize || dev.syncs[1] != AreaSize {
		t.Errorf("syncs after %v bytes, want after each copy", dev.syncs)
	}
	got, _, err := Read(bytes.NewReader(dev.area))
	if err != nil || !equal(got, goldenHeader()) {
		t.Errorf("read back: %v", err)
	}
}

func TestUUIDString(t *testing.T) {
	if got := goldenHeader().UUIDString(); got != "a0a1a2a3-a4a5-a6a7-a8a9-aaabacadaeaf" {
		t.Errorf("UUIDString = %s", got)
	}
}
