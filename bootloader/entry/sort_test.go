package entry

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func mustParse(t testing.TB, names ...string) []Entry {
	t.Helper()
	var entries []Entry
	for _, n := range names {
		e, err := Parse(n)
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, e)
	}
	return entries
}

func names(entries []Entry) []string {
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

// TestSort lists each case in the order systemd-boot 252 shows it; the
// first entry is the one it boots. Every permutation of the input must
// sort to that order.
func TestSort(t *testing.T) {
	cases := map[string][]string{
		"newer version first":           {"kiln-0.2.0+3.efi", "kiln-0.1.0.efi"},
		"bad entry last (A/B fallback)": {"kiln-0.1.0.efi", "kiln-0.2.0+0-3.efi"},
		"versions compare as numbers":   {"kiln-0.10.0.efi", "kiln-0.9.0.efi", "kiln-0.9.0~rc1.efi"},
		// Same version: the IDs decide, and "+3" reads as a newer segment than the end.
		"counted before blessed": {"kiln-0.1.0+3.efi", "kiln-0.1.0.efi"},
		"more tries left first":  {"kiln-0.2.0+2-1.efi", "kiln-0.2.0+1-2.efi"},
		"bad ones newest first":  {"kiln-0.1.0.efi", "kiln-0.3.0+0-3.efi", "kiln-0.2.0+0-1.efi"},
		"upgrade in flight": {
			"kiln-0.3.0+2-1.efi", "kiln-0.2.0.efi", "kiln-0.1.0.efi", "kiln-0.4.0+0-3.efi",
		},
		// A foreign UKI has no sort key Parse can know: listed after Kiln's.
		"no sort key after sort key": {"kiln-0.1.0.efi", "zzz-9.efi", "aaa-1.efi"},
	}
	for name, want := range cases {
		entries := mustParse(t, want...)
		for i := 0; i < 20; i++ {
			rand.Shuffle(len(entries), func(a, b int) { entries[a], entries[b] = entries[b], entries[a] })
			Sort(entries)
			if got := names(entries); !slices.Equal(got, want) {
				t.Errorf("%s: Sort = %q, want %q", name, got, want)
				break
			}
		}
	}
}

func TestCompareSortKeyAndVersion(t *testing.T) {
	a := Entry{Stem: "x", SortKey: "debian", Version: "12"}
	b := Entry{Stem: "y", SortKey: "kiln", Version: "1"}
	if Compare(a, b) >= 0 {
		t.Error("sort key debian must come before kiln")
	}
	b.SortKey = "debian"
	if Compare(a, b) >= 0 {
		t.Error("same sort key: version 12 must come before 1")
	}
	b.Version = "12"
	if Compare(a, b) <= 0 { // same version: IDs x.efi < y.efi, newest ("y") first
		t.Error("same version: y.efi must come before x.efi")
	}
}

// TestSortTotal: Compare is antisymmetric and transitive on a mixed set, so
// sorting never depends on the input order.
func TestSortTotal(t *testing.T) {
	var all []string
	for _, v := range []string{"0.1.0", "0.1.0~rc1", "0.2.0", "0.10.0"} {
		for _, c := range []string{"", "+3", "+2-1", "+0-3", "+1-2"} {
			all = append(all, "kiln-"+v+c+".efi")
		}
	}
	entries := mustParse(t, append(all, "other+1.efi", "other.efi")...)
	for _, a := range entries {
		for _, b := range entries {
			if Compare(a, b) != -Compare(b, a) {
				t.Errorf("Compare(%s, %s) not antisymmetric", a, b)
			}
			for _, c := range entries {
				if Compare(a, b) < 0 && Compare(b, c) < 0 && Compare(a, c) >= 0 {
					t.Errorf("not transitive: %s < %s < %s", a, b, c)
				}
			}
		}
	}
	Sort(entries)
	if first := entries[0].Name(); first != "kiln-0.10.0+3.efi" {
		t.Errorf("first = %s", first)
	}
	if last := entries[len(entries)-1].Name(); !strings.HasSuffix(last, "+0-3.efi") {
		t.Errorf("last = %s, want a bad entry", last)
	}
}
