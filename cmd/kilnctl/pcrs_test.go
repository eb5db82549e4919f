package main

import (
	"reflect"
	"slices"
	"testing"
)

func TestParsePCRList(t *testing.T) {
	got, err := parsePCRList("11, 0-2,1,23")
	if want := []uint32{0, 1, 2, 11, 23}; err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("got %v %v, want %v", got, err, want)
	}
	for _, bad := range []string{"", "24", "3-1", "-1", "a", "1-", "0-99999999999"} {
		if got, err := parsePCRList(bad); err == nil {
			t.Errorf("parsePCRList(%q) = %v, want an error", bad, got)
		}
	}
}

// FuzzParsePCRList checks that any input gives an error or sorted, distinct, in-range
// indexes.
func FuzzParsePCRList(f *testing.F) {
	for _, seed := range []string{"0-23", "7,11", "3-1", "", "1-2-3", ",", "23-23"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parsePCRList(s)
		if err != nil {
			return
		}
		if len(got) == 0 || !slices.IsSorted(got) || len(slices.Compact(slices.Clone(got))) != len(got) || got[len(got)-1] > maxPCR {
			t.Errorf("parsePCRList(%q) = %v", s, got)
		}
	})
}
