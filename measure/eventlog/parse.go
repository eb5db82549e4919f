package eventlog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// Event types this package acts on (PC Client Firmware Profile, "Events").
const (
	EvNoAction  uint32 = 0x00000003
	EvSeparator uint32 = 0x00000004
	EvAction    uint32 = 0x00000005
)

// TPM_ALG_ID values of the hash algorithms Replay knows (TPM 2.0 Part 2).
const (
	AlgSHA1   uint16 = 0x0004
	AlgSHA256 uint16 = 0x000B
	AlgSHA384 uint16 = 0x000C
	AlgSHA512 uint16 = 0x000D
)

// Errors returned by Parse, wrapped in a *ParseError.
var (
	ErrTruncated = errors.New("eventlog: log truncated")
	ErrMalformed = errors.New("eventlog: malformed log")
)

// Event is one measurement from the log.
type Event struct {
	Index   uint32            // PCR the event was (or, for EV_NO_ACTION, was not) extended into
	Type    uint32            // event type, e.g. EvSeparator
	Digests map[uint16][]byte // TPM algorithm ID → digest
	Data    []byte            // event data, copied from the input
}

// ParseError says where in the log Parse stopped and why.
type ParseError struct {
	Offset int    // byte offset of the field at fault
	Event  int    // index of the event being parsed, 0 for the header
	Field  string // name of the field at fault
	Err    error  // ErrTruncated or ErrMalformed, wrapped with detail
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("event %d: %s at offset %d: %v", e.Event, e.Field, e.Offset, e.Err)
}

func (e *ParseError) Unwrap() error { return e.Err }

// specIDSignature opens the data of the header event of a crypto-agile log.
var specIDSignature = []byte("Spec ID Event03\x00")

// maxDigestSize bounds declared digest sizes: no TPM hash is longer than
// SHA-512, and a bound keeps a hostile table from sizing absurd digests.
const maxDigestSize = 64

// knownSizes are the digest sizes of the algorithms this package knows; a
// Spec ID table that contradicts them is rejected.
var knownSizes = map[uint16]int{AlgSHA1: 20, AlgSHA256: 32, AlgSHA384: 48, AlgSHA512: 64}

// algSize is one row of the Spec ID event's digestSizes table.
type algSize struct {
	alg  uint16
	size int
}

// Parse decodes a crypto-agile TPM 2.0 event log. The first returned event
// is the Spec ID header, with its SHA-1 digest under AlgSHA1. The input is
// not retained.
func Parse(b []byte) ([]Event, error) {
	r := &reader{b: b}
	header, err := r.header()
	if err != nil {
		return nil, err
	}
	algs, err := parseSpecID(header.Data, r.dataOff)
	if err != nil {
		return nil, err
	}
	events := []Event{header}
	for r.off < len(r.b) {
		r.event = len(events)
		ev, err := r.event2(algs)
		if err != nil {
			return nil, err
		}
		events = append(events, ev)
	}
	return events, nil
}

// reader walks the log, remembering where it is for error messages.
type reader struct {
	b       []byte
	off     int
	event   int
	dataOff int // offset of the last event's data
}

func (r *reader) errorf(off int, field string, sentinel error, format string, args ...any) error {
	detail := fmt.Sprintf(format, args...)
	return &ParseError{Offset: off, Event: r.event, Field: field, Err: fmt.Errorf("%w: %s", sentinel, detail)}
}

// take returns the next n bytes, or ErrTruncated naming field.
func (r *reader) take(n uint64, field string) ([]byte, error) {
	if n > uint64(len(r.b)-r.off) {
		return nil, r.errorf(r.off, field, ErrTruncated, "need %d bytes, %d left", n, len(r.b)-r.off)
	}
	p := r.b[r.off : r.off+int(n)]
	r.off += int(n)
	return p, nil
}

func (r *reader) u16(field string) (uint16, error) {
	p, err := r.take(2, field)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint16(p), nil
}

func (r *reader) u32(field string) (uint32, error) {
	p, err := r.take(4, field)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(p), nil
}

// data reads an event's size and data, copying the data out.
func (r *reader) data() ([]byte, error) {
	size, err := r.u32("event size")
	if err != nil {
		return nil, err
	}
	r.dataOff = r.off
	p, err := r.take(uint64(size), "event data")
	if err != nil {
		return nil, err
	}
	return bytes.Clone(p), nil
}

// header reads the TCG_PCR_EVENT that opens the log and checks that it is
// a Spec ID event, leaving the table itself to parseSpecID.
func (r *reader) header() (Event, error) {
	index, typ, err := r.indexType()
	if err != nil {
		return Event{}, err
	}
	digest, err := r.take(20, "SHA-1 digest")
	if err != nil {
		return Event{}, err
	}
	if index != 0 || typ != EvNoAction {
		return Event{}, r.errorf(0, "header", ErrMalformed,
			"first event is PCR %d type %#x, want the Spec ID event (PCR 0, EV_NO_ACTION)", index, typ)
	}
	data, err := r.data()
	if err != nil {
		return Event{}, err
	}
	ev := Event{Index: index, Type: typ, Digests: map[uint16][]byte{AlgSHA1: bytes.Clone(digest)}, Data: data}
	return ev, nil
}

// indexType reads the PCR index and event type that start every event.
func (r *reader) indexType() (index, typ uint32, err error) {
	if index, err = r.u32("PCR index"); err != nil {
		return 0, 0, err
	}
	typ, err = r.u32("event type")
	return index, typ, err
}

// event2 reads one TCG_PCR_EVENT2, sizing digests from algs.
func (r *reader) event2(algs []algSize) (Event, error) {
	index, typ, err := r.indexType()
	if err != nil {
		return Event{}, err
	}
	digests, err := r.digests(algs)
	if err != nil {
		return Event{}, err
	}
	data, err := r.data()
	if err != nil {
		return Event{}, err
	}
	return Event{Index: index, Type: typ, Digests: digests, Data: data}, nil
}

// digests reads a TPML_DIGEST_VALUES, which must hold one digest for every
// algorithm of the Spec ID table.
func (r *reader) digests(algs []algSize) (map[uint16][]byte, error) {
	countOff := r.off
	count, err := r.u32("digest count")
	if err != nil {
		return nil, err
	}
	if count != uint32(len(algs)) {
		return nil, r.errorf(countOff, "digest count", ErrMalformed,
			"%d digests, the Spec ID event declares %d algorithms", count, len(algs))
	}
	digests := make(map[uint16][]byte, len(algs))
	for range count {
		algOff := r.off
		alg, err := r.u16("digest algorithm")
		if err != nil {
			return nil, err
		}
		size, ok := sizeOf(algs, alg)
		if !ok {
			return nil, r.errorf(algOff, "digest algorithm", ErrMalformed, "algorithm %#04x not in the Spec ID event", alg)
		}
		if _, dup := digests[alg]; dup {
			return nil, r.errorf(algOff, "digest algorithm", ErrMalformed, "second digest for algorithm %#04x", alg)
		}
		d, err := r.take(uint64(size), "digest")
		if err != nil {
			return nil, err
		}
		digests[alg] = bytes.Clone(d)
	}
	return digests, nil
}

func sizeOf(algs []algSize, alg uint16) (int, bool) {
	for _, a := range algs {
		if a.alg == alg {
			return a.size, true
		}
	}
	return 0, false
}
