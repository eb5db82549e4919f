package eventsink

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kiln-os/kiln/initd/events"
)

type pipePort struct{ *io.PipeWriter }

func TestEmitWritesJSONConsoleAndHistory(t *testing.T) {
	pr, pw := io.Pipe()
	var console bytes.Buffer
	s := New(&console, pipePort{pw})
	s.Emit(events.Event{Type: events.TypePhase, Name: "EarlyMounts", State: events.StateDone})
	line, err := bufio.NewReader(pr).ReadBytes('\n')
	if err != nil {
		t.Fatal(err)
	}
	e, err := events.Parse(line)
	if err != nil || e.Name != "EarlyMounts" || e.Time.IsZero() {
		t.Fatalf("port got %q (%v)", line, err)
	}
	s.Close(time.Second)
	if !strings.Contains(console.String(), "[phase] EarlyMounts: done") {
		t.Errorf("console = %q", console.String())
	}
	if h := s.History(); len(h) != 1 {
		t.Errorf("history = %v", h)
	}
}

// A port nobody reads must not block Emit.
func TestStuckPortDoesNotBlock(t *testing.T) {
	_, pw := io.Pipe() // never read
	s := New(io.Discard, pipePort{pw})
	done := make(chan struct{})
	go func() {
		for i := 0; i < 5000; i++ {
			s.Emit(events.Event{Type: events.TypeInfo, Name: "x", State: "y"})
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Emit blocked on a stuck port")
	}
	if len(s.History()) != 5000 {
		t.Errorf("history lost events")
	}
}

func TestFindPort(t *testing.T) {
	sys := t.TempDir()
	for name, dir := range map[string]string{"org.qemu.guest_agent.0": "vport0p1", "kiln.events": "vport1p2"} {
		os.MkdirAll(filepath.Join(sys, dir), 0o755)
		os.WriteFile(filepath.Join(sys, dir, "name"), []byte(name+"\n"), 0o644)
	}
	if got := FindPort(sys, "/dev", "kiln.events"); got != "/dev/vport1p2" {
		t.Errorf("FindPort = %q", got)
	}
	if got := FindPort(sys, "/dev", "absent"); got != "" {
		t.Errorf("FindPort(absent) = %q", got)
	}
}

// An API client can make machined emit events (restarts, applies); the history must not
// grow with them, and a tail of -1 must replay at most HistorySize.
func TestHistoryIsBoundedRing(t *testing.T) {
	s := New(nil, nil)
	const rounds = 3
	for i := 0; i < rounds*HistorySize; i++ {
		s.Emit(events.Event{Type: events.TypeInfo, Name: "flood", State: events.StateDone})
	}
	got := s.History()
	if len(got) != HistorySize {
		t.Fatalf("history holds %d events after %d, want the last %d", len(got), rounds*HistorySize, HistorySize)
	}
	if first, last := got[0].Seq, got[len(got)-1].Seq; first != (rounds-1)*HistorySize+1 || last != rounds*HistorySize {
		t.Errorf("history seq %d..%d, want the newest %d..%d", first, last, (rounds-1)*HistorySize+1, rounds*HistorySize)
	}
	if c := cap(s.history); c > HistorySize {
		t.Errorf("history capacity %d, want at most %d", c, HistorySize)
	}
	ch, _ := s.Subscribe(context.Background(), -1, false)
	n := 0
	for range ch {
		n++
	}
	if n != HistorySize {
		t.Errorf("tail -1 replayed %d events, want %d", n, HistorySize)
	}
}
