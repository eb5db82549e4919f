package entry

import (
	"cmp"
	"strings"
)

// CompareVersions orders two version strings as systemd's
// strverscmp_improved() (src/fundamental/string-util-fundamental.c) does in
// the systemd 252.39 that Kiln ships, returning -1, 0 or +1 (a older, equal,
// newer than b); `systemd-analyze compare-versions` is the same function and
// the oracle tests compare against it. The strings are cut into numeric and
// alphabetic segments; characters other than letters, digits and ~ - ^ .
// separate segments and are otherwise ignored. Numeric segments compare as
// numbers (leading zeros ignored) and are newer than alphabetic ones, which
// compare as bytes; a longer segment is newer. Prefixes rank: "~"
// (pre-release) older than anything, even the end of a string; then "-"
// older than "^" older than "." older than none; otherwise a string with
// more segments is newer. So
//
//	~1 < "" < ab < 0001 < 122.9 < 123~rc1 < 123 < 123-a < 123-a.1 < 123-3 < 123^patch1 < 123.a-1 < 123.1-1 < 123a-1 < 124
func CompareVersions(a, b string) int {
	for {
		a, b = trimInvalid(a), trimInvalid(b)
		if r, done := comparePrefix(&a, &b, '~'); done {
			return r
		}
		if a == "" || b == "" {
			return cmp.Compare(first(a), first(b))
		}
		for _, sep := range []byte{'-', '^', '.'} {
			if r, done := comparePrefix(&a, &b, sep); done {
				return r
			}
		}
		var r int
		if isDigit(first(a)) || isDigit(first(b)) {
			r, a, b = compareNumeric(a, b)
		} else {
			r, a, b = compareAlpha(a, b)
		}
		if r != 0 {
			return r
		}
	}
}

// comparePrefix handles the segment prefix sep. If exactly one string starts
// with it, that one is older and done is true; if both do, both move past it.
// ("~" is checked before the end of either string, the others after, which is
// what makes 1~rc older than 1 but 1-1 newer than 1.)
func comparePrefix(a, b *string, sep byte) (r int, done bool) {
	hasA, hasB := first(*a) == sep, first(*b) == sep
	switch {
	case hasA && hasB:
		*a, *b = (*a)[1:], (*b)[1:]
		return 0, false
	case hasA:
		return -1, true
	case hasB:
		return 1, true
	}
	return 0, false
}

// compareNumeric compares the leading digit runs; a string without one
// (an alphabetic segment or nothing) is older.
func compareNumeric(a, b string) (int, string, string) {
	if r := cmpBool(span(a, isDigit) > 0, span(b, isDigit) > 0); r != 0 {
		return r, a, b
	}
	a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
	na, nb := span(a, isDigit), span(b, isDigit)
	if r := cmp.Compare(na, nb); r != 0 {
		return r, a, b
	}
	return strings.Compare(a[:na], b[:nb]), a[na:], b[nb:]
}

func compareAlpha(a, b string) (int, string, string) {
	na, nb := span(a, isAlpha), span(b, isAlpha)
	n := min(na, nb)
	if r := strings.Compare(a[:n], b[:n]); r != 0 {
		return r, a, b
	}
	return cmp.Compare(na, nb), a[na:], b[nb:]
}

func trimInvalid(s string) string {
	for s != "" && !isVersionChar(s[0]) {
		s = s[1:]
	}
	return s
}

func span(s string, ok func(byte) bool) int {
	n := 0
	for n < len(s) && ok(s[n]) {
		n++
	}
	return n
}

func first(s string) byte {
	if s == "" {
		return 0
	}
	return s[0]
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isVersionChar(c byte) bool {
	return isDigit(c) || isAlpha(c) || c == '~' || c == '-' || c == '^' || c == '.'
}
