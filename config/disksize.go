package config

import (
	"fmt"
	"math"
	"math/big"
	"strings"
)

// SizeMatcher is a parsed install.diskSelector.size.
type SizeMatcher struct {
	Op   string // "==", ">=", "<=", ">" or "<"
	Size int64  // bytes
	Unit int64  // the unit's bytes, for the exact form's rounding
}

// sizeUnits are the units of a size, as Talos (go-humanize) reads them: k/K, M, G, T
// with B are powers of 1000, with iB powers of 1024.
var sizeUnits = map[string]int64{
	"": 1, "B": 1,
	"kB": 1e3, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
	"KiB": 1 << 10, "kiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40,
}

// ParseSizeMatcher parses "4GB", ">= 10GB", "<= 2TB", "> 1.5TiB" (an operator, a number
// with an optional fraction, and a unit; spaces between them are allowed).
func ParseSizeMatcher(s string) (SizeMatcher, error) {
	m := SizeMatcher{Op: "=="}
	rest := strings.TrimSpace(s)
	for _, op := range []string{">=", "<=", "==", ">", "<"} {
		if r, ok := strings.CutPrefix(rest, op); ok {
			m.Op, rest = op, strings.TrimSpace(r)
			break
		}
	}
	i := strings.IndexFunc(rest, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if i < 0 {
		i = len(rest)
	}
	num, unit := rest[:i], strings.TrimSpace(rest[i:])
	u, ok := sizeUnits[unit]
	if !ok || num == "" {
		return m, fmt.Errorf("size %q: want [>=|<=|>|<] NUMBER UNIT with a unit of B, kB, MB, GB, TB, KiB, MiB, GiB or TiB (>= 10GB)", s)
	}
	r, ok := new(big.Rat).SetString(num)
	if !ok {
		return m, fmt.Errorf("size %q: %q is not a number", s, num)
	}
	r.Mul(r, new(big.Rat).SetInt64(u))
	f, _ := r.Float64()
	if f > math.MaxInt64/2 {
		return m, fmt.Errorf("size %q is too large", s)
	}
	m.Size, m.Unit = int64(f), u
	return m, nil
}

// Match reports whether a disk of size bytes matches. The exact form matches a size
// that rounds to the given number of units (4GB matches 3.5 GB up to 4.5 GB, not
// included), since no disk is exactly its marketed size.
func (m SizeMatcher) Match(size int64) bool {
	switch m.Op {
	case ">=":
		return size >= m.Size
	case "<=":
		return size <= m.Size
	case ">":
		return size > m.Size
	case "<":
		return size < m.Size
	}
	d := size - m.Size
	return 2*d >= -m.Unit && 2*d < m.Unit
}
