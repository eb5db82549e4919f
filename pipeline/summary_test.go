package pipeline

import (
	"strings"
	"testing"
	"time"
)

// One line per step, cached or not, then the total.
func TestSummaryOneLinePerStep(t *testing.T) {
	var out strings.Builder
	b := &Build{Summary: &out, Steps: []StepTime{
		{Name: "kernel", Took: 33 * time.Millisecond, Cache: "hit"},
		{Name: "binaries", Took: 2100 * time.Millisecond, Cache: "miss"},
		{Name: "disk", Took: 81 * time.Millisecond},
	}}
	b.writeSummary(2500 * time.Millisecond)
	want := []string{"step took cache", "kernel 33ms hit", "binaries 2.1s miss", "disk 81ms -", "total 2.5s"}
	lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
	if len(lines) != len(want) {
		t.Fatalf("summary:\n%s\nwant %d lines", out.String(), len(want))
	}
	for i, line := range lines {
		if got := strings.Join(strings.Fields(line), " "); got != want[i] {
			t.Errorf("line %d = %q, want %q", i, got, want[i])
		}
	}
}
