package eventlog

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"slices"
	"testing"
)

// logBuilder writes a crypto-agile log by hand, field by field, so the
// tests do not depend on the parser to describe the format.
type logBuilder struct{ bytes.Buffer }

func (w *logBuilder) u8(v byte)    { w.WriteByte(v) }
func (w *logBuilder) u16(v uint16) { w.Write(binary.LittleEndian.AppendUint16(nil, v)) }
func (w *logBuilder) u32(v uint32) { w.Write(binary.LittleEndian.AppendUint32(nil, v)) }

// specID returns a TCG_EfiSpecIdEvent for SHA-1 and SHA-256.
func specID() []byte {
	var w logBuilder
	w.WriteString("Spec ID Event03\x00")
	w.u32(0) // platform class: client
	w.u8(0)  // spec version minor
	w.u8(2)  // spec version major
	w.u8(0)  // errata
	w.u8(2)  // uintnSize: 64-bit
	w.u32(2)
	w.u16(AlgSHA1)
	w.u16(20)
	w.u16(AlgSHA256)
	w.u16(32)
	w.u8(3) // vendor info
	w.WriteString("abc")
	return w.Bytes()
}

func (w *logBuilder) header(data []byte) {
	w.u32(0)
	w.u32(EvNoAction)
	w.Write(make([]byte, 20))
	w.u32(uint32(len(data)))
	w.Write(data)
}

// event2 writes a TCG_PCR_EVENT2 whose digests are the hashes of data.
func (w *logBuilder) event2(pcr, typ uint32, data []byte) {
	s1, s256 := sha1.Sum(data), sha256.Sum256(data)
	if typ == EvNoAction {
		s1, s256 = [20]byte{}, [32]byte{}
	}
	w.u32(pcr)
	w.u32(typ)
	w.u32(2)
	w.u16(AlgSHA1)
	w.Write(s1[:])
	w.u16(AlgSHA256)
	w.Write(s256[:])
	w.u32(uint32(len(data)))
	w.Write(data)
}

const evEFIAction = 0x80000007

var locality3 = []byte("StartupLocality\x00\x03")

// syntheticLog is a Spec ID header, a StartupLocality event and a few
// measurements into PCRs 0, 4 and 7 around an EV_NO_ACTION.
func syntheticLog() []byte {
	var w logBuilder
	w.header(specID())
	w.event2(0, EvNoAction, locality3)
	w.event2(0, 0x8, []byte("crtm version"))
	w.event2(7, 0x80000001, []byte("SecureBoot=1"))
	w.event2(4, evEFIAction, []byte("Calling EFI Application from Boot Option"))
	w.event2(4, EvNoAction, []byte("not measured"))
	for _, pcr := range []uint32{0, 4, 7} {
		w.event2(pcr, EvSeparator, []byte{0, 0, 0, 0})
	}
	w.event2(4, 0x80000003, []byte("kernel image"))
	return w.Bytes()
}

func sha256Chain(start []byte, data ...string) []byte {
	pcr := start
	for _, d := range data {
		m := sha256.Sum256([]byte(d))
		next := sha256.Sum256(append(slices.Clone(pcr), m[:]...))
		pcr = next[:]
	}
	return pcr
}

func TestParse(t *testing.T) {
	events, err := Parse(syntheticLog())
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 10 {
		t.Fatalf("got %d events, want 10", len(events))
	}
	if !bytes.Equal(events[0].Data, specID()) || len(events[0].Digests[AlgSHA1]) != 20 {
		t.Errorf("header = %+v", events[0])
	}
	kernel := events[9]
	wantDigest := sha256.Sum256([]byte("kernel image"))
	if kernel.Index != 4 || kernel.Type != 0x80000003 || string(kernel.Data) != "kernel image" ||
		!bytes.Equal(kernel.Digests[AlgSHA256], wantDigest[:]) || len(kernel.Digests) != 2 {
		t.Errorf("last event = %+v", kernel)
	}
}

func TestReplay(t *testing.T) {
	events, err := Parse(syntheticLog())
	if err != nil {
		t.Fatal(err)
	}
	zero := make([]byte, 32)
	start0 := make([]byte, 32)
	start0[31] = 3 // StartupLocality 3
	sep := string([]byte{0, 0, 0, 0})
	want := map[int][]byte{
		0:  sha256Chain(start0, "crtm version", sep),
		4:  sha256Chain(zero, "Calling EFI Application from Boot Option", sep, "kernel image"),
		7:  sha256Chain(zero, "SecureBoot=1", sep),
		11: zero,
	}
	got := Replay(events, AlgSHA256, 32, []int{0, 4, 7, 11})
	if m := Compare(got, want); m != nil {
		t.Errorf("Compare(replayed, want) = %x", m)
	}

	sha1Got := Replay(events, AlgSHA1, 20, []int{7})
	s1 := sha1.Sum([]byte("SecureBoot=1"))
	step := sha1.Sum(append(make([]byte, 20), s1[:]...))
	s1 = sha1.Sum([]byte(sep))
	step = sha1.Sum(append(step[:], s1[:]...))
	if !bytes.Equal(sha1Got[7], step[:]) {
		t.Errorf("SHA-1 PCR 7 = %x, want %x", sha1Got[7], step)
	}

	if Replay(events, AlgSHA256, 20, []int{0}) != nil || Replay(events, 0x0012, 32, []int{0}) != nil {
		t.Error("Replay accepted a wrong digest size or an unknown algorithm")
	}
}

func TestCompare(t *testing.T) {
	a, b := []byte{1}, []byte{2}
	got := Compare(map[int][]byte{0: a, 4: a, 7: a}, map[int][]byte{0: a, 4: b, 9: b})
	want := []Mismatch{{PCR: 4, Replayed: a, Actual: b}, {PCR: 7, Replayed: a}, {PCR: 9, Actual: b}}
	if !slices.EqualFunc(got, want, func(x, y Mismatch) bool {
		return x.PCR == y.PCR && bytes.Equal(x.Replayed, y.Replayed) && bytes.Equal(x.Actual, y.Actual) &&
			(x.Replayed == nil) == (y.Replayed == nil) && (x.Actual == nil) == (y.Actual == nil)
	}) {
		t.Errorf("Compare = %v, want %v", got, want)
	}
}

// patch returns a copy of b with v written little-endian at off.
func patch(b []byte, off int, v uint32) []byte {
	b = slices.Clone(b)
	binary.LittleEndian.PutUint32(b[off:], v)
	return b
}

func patchByte(b []byte, off int, v byte) []byte {
	b = slices.Clone(b)
	b[off] = v
	return b
}

func TestParseErrors(t *testing.T) {
	good := syntheticLog()
	specLen := len(specID())
	dataOff := 32              // header: index, type, SHA-1 digest, size
	first := dataOff + specLen // first TCG_PCR_EVENT2
	algTable := dataOff + 24   // numberOfAlgorithms in the Spec ID event
	var noHeader logBuilder
	noHeader.event2(0, 0x8, []byte("x"))
	tests := []struct {
		name   string
		log    []byte
		err    error
		offset int
	}{
		{"empty", nil, ErrTruncated, 0},
		{"short header", good[:10], ErrTruncated, 8},
		{"header data cut", good[:dataOff+5], ErrTruncated, dataOff},
		{"event cut in digest", good[:first+20], ErrTruncated, first + 14},
		{"event cut in data", good[:len(good)-1], ErrTruncated, len(good) - len("kernel image")},
		{"trailing byte", append(slices.Clone(good), 0), ErrTruncated, len(good)},
		{"no Spec ID event", noHeader.Bytes(), ErrMalformed, 0},
		{"wrong signature", patch(good, dataOff, 0), ErrMalformed, dataOff},
		{"zero algorithms", patch(good, algTable, 0), ErrMalformed, algTable},
		{"huge algorithm count", patch(good, algTable, 0xffffffff), ErrMalformed, algTable},
		{"SHA-256 of 20 bytes", patch(good, algTable+8, uint32(AlgSHA256)|20<<16), ErrMalformed, algTable + 8},
		{"duplicate algorithm", patch(good, algTable+8, uint32(AlgSHA1)|20<<16), ErrMalformed, algTable + 8},
		{"vendor info overruns", patchByte(good, dataOff+specLen-4, 0xff), ErrTruncated, dataOff + specLen - 3},
		{"Spec ID trailing bytes", patchByte(good, dataOff+specLen-4, 1), ErrMalformed, dataOff + specLen - 2},
		{"digest count", patch(good, first+8, 1), ErrMalformed, first + 8},
		{"unknown algorithm", patch(good, first+12, 0x0012), ErrMalformed, first + 12},
		{"huge event size", patch(good, first+12+2+20+2+32, 0xffffffff), ErrTruncated, first + 72},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			events, err := Parse(tt.log)
			var pe *ParseError
			if !errors.Is(err, tt.err) || !errors.As(err, &pe) {
				t.Fatalf("Parse = %d events, %v; want %v", len(events), err, tt.err)
			}
			if pe.Offset != tt.offset {
				t.Errorf("offset %d, want %d (%v)", pe.Offset, tt.offset, err)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	good := syntheticLog()
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		events, err := Parse(b)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Offset < 0 || pe.Offset > len(b) {
				t.Fatalf("error %v is not a ParseError with an offset inside the input", err)
			}
			return
		}
		got := Replay(events, AlgSHA256, 32, []int{0, 4, 7})
		if len(got) != 3 && got != nil {
			t.Fatalf("Replay returned %d PCRs", len(got))
		}
	})
}
