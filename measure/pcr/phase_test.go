package pcr

import (
	"slices"
	"testing"
)

// The words are what systemd-pcrphase and the seed's boot order use; a changed word or order
// would make every prediction (and so every signed policy) miss.
func TestPhases(t *testing.T) {
	want := []string{"enter-initrd", "leave-initrd", "sysinit", "ready"}
	got := Phases()
	if !slices.Equal(got, want) {
		t.Fatalf("Phases() = %q, want %q", got, want)
	}
	got[0] = "changed"
	if Phases()[0] != "enter-initrd" {
		t.Error("a caller changed the boot order for every other caller")
	}
}
