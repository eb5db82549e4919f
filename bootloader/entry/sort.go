package entry

import (
	"cmp"
	"slices"
	"strings"
)

// Compare orders two entries as systemd-boot 252's config_entry_compare()
// (src/boot/efi/boot.c) does; the first entry in this order is the one it
// boots when loader.conf names no default:
//
//  1. entries with no tries left (Bad) last;
//  2. entries with a sort key (os-release IMAGE_ID or ID) before those without;
//  3. with sort keys on both: by sort key (byte order), then by version, newest
//     first (CompareVersions); UKIs carry no machine-id, the next key there;
//  4. by ID (the lower-cased file name, counter included), "newest" first by
//     CompareVersions;
//  5. if both count tries: more tries left first, then fewer tries done first.
func Compare(a, b Entry) int {
	if r := cmpBool(a.Bad(), b.Bad()); r != 0 {
		return r
	}
	return compareAge(a, b)
}

// compareAge is Compare without its first rule: > 0 when a is older than b
// (or, across sort keys, listed after it).
func compareAge(a, b Entry) int {
	if r := cmpBool(a.SortKey == "", b.SortKey == ""); r != 0 {
		return r
	}
	if a.SortKey != "" {
		if r := strings.Compare(a.SortKey, b.SortKey); r != 0 {
			return r
		}
		if r := CompareVersions(a.Version, b.Version); r != 0 {
			return -r
		}
	}
	if r := CompareVersions(a.ID(), b.ID()); r != 0 {
		return -r
	}
	if !a.Counting || !b.Counting {
		return 0
	}
	if r := cmp.Compare(a.Left, b.Left); r != 0 {
		return -r
	}
	return cmp.Compare(a.Done, b.Done)
}

// Sort orders entries as systemd-boot 252 lists them (see Compare). Like
// systemd-boot's insertion sort it is stable, though entries of one directory
// never compare equal: their IDs differ.
func Sort(entries []Entry) {
	slices.SortStableFunc(entries, Compare)
}

// cmpBool orders false before true.
func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}
