package pe

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// sbatHeader is the first line of every SBAT section: the version of the
// SBAT format itself, as shim documents it.
const sbatHeader = "sbat,1,SBAT Version,sbat,1,https://github.com/rhboot/shim/blob/main/SBAT.md"

// sbatFields is the number of fields of an SBAT line: component name,
// generation, vendor name, vendor package name, vendor version, vendor URL.
const sbatFields = 6

// MergeSBAT returns the .sbat section content for a UKI: the lines of the
// stub's .sbat (stub may be nil; the "sbat" header line is added if missing),
// then the component lines of extra that are not already there, ending in a
// newline and a NUL. A "sbat," header line in extra is dropped. Every line of
// extra must have 6 fields with a positive generation, and must not name a
// component that the stub's lines already name with different fields.
func MergeSBAT(stub, extra []byte) ([]byte, error) {
	lines, err := stubSBATLines(stub)
	if err != nil {
		return nil, err
	}
	have := make(map[string]string, len(lines)) // component -> line
	for _, l := range lines {
		have[component(l)] = l
	}
	extraLines, err := sbatLines(extra)
	if err != nil {
		return nil, err
	}
	for _, l := range extraLines {
		if component(l) == "sbat" {
			continue // one header line, the stub's, comes first
		}
		if err := checkSBATLine(l); err != nil {
			return nil, err
		}
		if prev, ok := have[component(l)]; ok {
			if prev != l {
				return nil, fmt.Errorf("%w: component %q is already in the stub's SBAT as %q", ErrSBAT, component(l), prev)
			}
			continue
		}
		have[component(l)] = l
		lines = append(lines, l)
	}
	return []byte(strings.Join(lines, "\n") + "\n\x00"), nil
}

// stubSBATLines returns the stub's SBAT lines with the header line first.
func stubSBATLines(stub []byte) ([]string, error) {
	lines, err := sbatLines(stub)
	if err != nil {
		return nil, fmt.Errorf("stub .sbat: %w", err)
	}
	if len(lines) == 0 {
		return []string{sbatHeader}, nil
	}
	if component(lines[0]) != "sbat" {
		return nil, fmt.Errorf("%w: stub .sbat starts with %q, not the sbat header line", ErrSBAT, lines[0])
	}
	return lines, nil
}

// sbatLines splits SBAT CSV text into lines: up to the first NUL, without
// empty lines or trailing carriage returns.
func sbatLines(b []byte) ([]string, error) {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		if !zeroes(b[i:]) {
			return nil, fmt.Errorf("%w: data after the terminating NUL", ErrSBAT)
		}
		b = b[:i]
	}
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSuffix(l, "\r"); l != "" {
			lines = append(lines, l)
		}
	}
	return lines, nil
}

// checkSBATLine checks one component line given to MergeSBAT.
func checkSBATLine(l string) error {
	fields := strings.Split(l, ",")
	if len(fields) != sbatFields {
		return fmt.Errorf("%w: line %q has %d fields, want %d", ErrSBAT, l, len(fields), sbatFields)
	}
	if fields[0] == "" || strings.ContainsAny(l, "\"\x00") {
		return fmt.Errorf("%w: line %q has an empty name or a quote", ErrSBAT, l)
	}
	if gen, err := strconv.ParseUint(fields[1], 10, 32); err != nil || gen == 0 {
		return fmt.Errorf("%w: line %q: generation %q is not a positive integer", ErrSBAT, l, fields[1])
	}
	return nil
}

// component is the first field of an SBAT line.
func component(l string) string {
	name, _, _ := strings.Cut(l, ",")
	return name
}
