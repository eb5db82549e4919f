package storage

import (
	"testing"

	"github.com/kiln-os/kiln/initd/storage/dm"
)

// TestKeyLeavesNoCopyAfterOpen is the memory-dump attack: after STATE is open, nothing
// this package made still holds the key, in binary or as the hex inside the crypt table.
// The kernel holds the key from then on; a copy in machined's heap only waits for a
// core dump, a /proc/PID/mem reader or a swapped page.
func TestKeyLeavesNoCopyAfterOpen(t *testing.T) {
	r := newRig(t, stateSize)
	for _, step := range []string{"create", "reopen"} {
		if _, err := r.state().Open(ctx); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		for _, key := range r.sealer.keys {
			if !allZero(string(key)) {
				t.Errorf("%s: a key buffer handed to the sealer is not zeroed", step)
			}
		}
		for _, table := range r.mapper.handed {
			if !allZero(paramsText(table)) {
				t.Errorf("%s: the crypt table handed to the mapper still holds its params (the key in hex)", step)
			}
		}
	}
	if len(r.sealer.keys) != 2 || len(r.mapper.handed) != 2 {
		t.Fatalf("saw %d keys and %d tables, want 2 and 2", len(r.sealer.keys), len(r.mapper.handed))
	}
}

func paramsText(table []dm.Target) string {
	var all string
	for _, target := range table {
		all += string(target.Params)
	}
	return all
}

func allZero(s string) bool {
	for i := range len(s) {
		if s[i] != 0 {
			return false
		}
	}
	return true
}
