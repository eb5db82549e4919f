package entry

import (
	"strings"
	"testing"
)

// nonCanonicalCounter reports a counted name that Name() spells differently:
// a counter with leading zeros, or "-0".
func nonCanonicalCounter(e Entry, name string) bool {
	counter := strings.TrimSuffix(name[len(e.Stem)+1:], Suffix)
	left, done, hasDone := strings.Cut(counter, "-")
	leadingZero := func(n string) bool { return len(n) > 1 && n[0] == '0' }
	return e.Counting && (leadingZero(left) || hasDone && (leadingZero(done) || e.Done == 0))
}

// FuzzParse: Parse never panics; what it accepts formats back to a name
// that parses to the same entry, and to the very same name unless the
// counter had leading zeros or "-0".
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"kiln-0.1.0+3.efi", "kiln-0.1.0+2-1.efi", "kiln-0.1.0+0-3.efi", "kiln-0.1.0.efi", "a+b+1-2.efi",
		"kiln+03.efi", "kiln+3-0.efi", "kiln+99999999999999999999.efi", "+3.efi", "auto-x.efi", "x.EFI",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		e, err := Parse(name)
		if err != nil {
			return
		}
		again, err := Parse(e.Name())
		if err != nil || again != e {
			t.Fatalf("Parse(%q) = %+v; Parse(Name()=%q) = %+v, %v", name, e, e.Name(), again, err)
		}
		if e.Name() != name && !nonCanonicalCounter(e, name) {
			t.Fatalf("Parse(%q).Name() = %q", name, e.Name())
		}
		_ = e.Blessed()
		_ = Compare(e, again)
	})
}

// FuzzFormat: every entry built from a valid version and counters formats
// to a name that parses back to it.
func FuzzFormat(f *testing.F) {
	f.Add("0.1.0", true, 3, 0)
	f.Add("1.0~rc1", true, 0, 3)
	f.Add("2", false, 0, 0)
	f.Fuzz(func(t *testing.T, version string, counting bool, left, done int) {
		if CheckVersion(version) != nil || left < 0 || done < 0 || left > maxTries || done > maxTries {
			return
		}
		e := Entry{Stem: Prefix + version, SortKey: OSID, Version: version}
		if counting {
			e.Counting, e.Left, e.Done = true, left, done
		}
		got, err := Parse(e.Name())
		if err != nil || got != e {
			t.Fatalf("Parse(%q) = %+v, %v; want %+v", e.Name(), got, err, e)
		}
		if counting && left == FreshTries && done == 0 && e.Name() != Fresh(version) {
			t.Fatalf("Fresh(%q) = %q, want %q", version, Fresh(version), e.Name())
		}
	})
}

// FuzzCompareVersions: terminates, is antisymmetric and reflexive.
func FuzzCompareVersions(f *testing.F) {
	for i, a := range systemdOrder {
		f.Add(a, systemdOrder[(i+7)%len(systemdOrder)])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		ab, ba := CompareVersions(a, b), CompareVersions(b, a)
		if ab != -ba || CompareVersions(a, a) != 0 {
			t.Fatalf("CompareVersions(%q, %q) = %d, reverse %d", a, b, ab, ba)
		}
	})
}
