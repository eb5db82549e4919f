package eventlog

import (
	"bytes"
	"encoding/binary"
)

// specIDFixed is the size of TCG_EfiSpecIdEvent up to its digestSizes
// table: signature[16], platformClass u32, specVersionMinor, specVersionMajor,
// specErrata, uintnSize (one byte each), numberOfAlgorithms u32.
const specIDFixed = 16 + 4 + 4 + 4

// parseSpecID decodes the TCG_EfiSpecIdEvent in the header's data, which
// starts at offset base of the log, and returns its algorithm table.
func parseSpecID(data []byte, base int) ([]algSize, error) {
	r := &reader{b: data}
	wrap := func(err error) error {
		if pe, ok := err.(*ParseError); ok {
			pe.Offset += base
		}
		return err
	}
	sig, err := r.take(16, "Spec ID signature")
	if err != nil {
		return nil, wrap(err)
	}
	if !bytes.Equal(sig, specIDSignature) {
		return nil, wrap(r.errorf(0, "Spec ID signature", ErrMalformed, "signature %q, want %q", sig, specIDSignature))
	}
	if len(data) < specIDFixed {
		return nil, wrap(r.errorf(len(data), "Spec ID header", ErrTruncated, "%d bytes, need %d", len(data), specIDFixed))
	}
	r.off = specIDFixed - 4 // platform class, version and uintnSize carry nothing we check
	algs, err := r.algTable()
	if err != nil {
		return nil, wrap(err)
	}
	p, err := r.take(1, "vendor info size")
	if err != nil {
		return nil, wrap(err)
	}
	if _, err := r.take(uint64(p[0]), "vendor info"); err != nil {
		return nil, wrap(err)
	}
	if r.off != len(data) {
		return nil, wrap(r.errorf(r.off, "Spec ID event", ErrMalformed, "%d bytes after vendor info", len(data)-r.off))
	}
	return algs, nil
}

// algTable reads numberOfAlgorithms and the digestSizes table.
func (r *reader) algTable() ([]algSize, error) {
	countOff := r.off
	count, err := r.u32("number of algorithms")
	if err != nil {
		return nil, err
	}
	if count == 0 || uint64(count)*4 > uint64(len(r.b)-r.off) {
		return nil, r.errorf(countOff, "number of algorithms", ErrMalformed,
			"%d algorithms with %d bytes left", count, len(r.b)-r.off)
	}
	algs := make([]algSize, 0, count)
	for range count {
		rowOff := r.off
		p, _ := r.take(4, "digest size") // length checked above
		alg, size := binary.LittleEndian.Uint16(p), int(binary.LittleEndian.Uint16(p[2:]))
		if err := checkAlg(algs, alg, size); err != "" {
			return nil, r.errorf(rowOff, "digest size", ErrMalformed, "algorithm %#04x size %d: %s", alg, size, err)
		}
		algs = append(algs, algSize{alg: alg, size: size})
	}
	return algs, nil
}

// checkAlg says what is wrong with one row of the table, or "".
func checkAlg(seen []algSize, alg uint16, size int) string {
	if _, dup := sizeOf(seen, alg); dup {
		return "listed twice"
	}
	if size == 0 || size > maxDigestSize {
		return "size out of range"
	}
	if want, ok := knownSizes[alg]; ok && want != size {
		return "wrong size for a known hash"
	}
	return ""
}
