package qemu

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/kiln-os/kiln/initd/events"
)

func line(typ, name, state string) string {
	return string(events.Event{Type: typ, Name: name, State: state}.Marshal())
}

func TestEventLogReadFrom(t *testing.T) {
	stream := line("phase", "EarlyMounts", "started") +
		"\n" + // blank lines are skipped
		"not json\n" + // counted, not fatal
		strings.TrimSuffix(line("phase", "EarlyMounts", "done"), "\n") + "\r\n" +
		`{"type":"task"}` + "\n" + // no state: rejected by events.Parse
		strings.TrimSuffix(line("boot", "kiln", "ready"), "\n") // last line without newline
	var raw bytes.Buffer
	var logged []string
	l := newEventLog()
	l.readFrom(strings.NewReader(stream), &raw, func(f string, a ...any) { logged = append(logged, f) })

	got := l.snapshot()
	want := []string{"[phase] EarlyMounts: started", "[phase] EarlyMounts: done", "[boot] kiln: ready"}
	if len(got) != len(want) {
		t.Fatalf("got %d events %v, want %d", len(got), got, len(want))
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Errorf("event %d = %q, want %q", i, got[i], want[i])
		}
	}
	if l.bad != 2 || len(logged) != 2 {
		t.Errorf("bad lines counted %d, logged %d; want 2 and 2", l.bad, len(logged))
	}
	if n := strings.Count(raw.String(), "\n"); n != 5 {
		t.Errorf("raw copy has %d lines, want the 5 non-blank ones:\n%s", n, raw.String())
	}
}

func TestEventLogLongLineDrains(t *testing.T) {
	long := strings.Repeat("x", maxEventLine+10) + "\n"
	r := strings.NewReader(line("phase", "a", "done") + long + line("phase", "b", "done"))
	l := newEventLog()
	l.readFrom(r, nil, func(string, ...any) {})
	if r.Len() != 0 {
		t.Errorf("%d bytes left unread: the guest would block", r.Len())
	}
	if got := l.snapshot(); len(got) != 1 || got[0].Name != "a" {
		t.Errorf("events = %v, want just the one before the long line", got)
	}
}

func TestMatchers(t *testing.T) {
	ready := events.Event{Type: events.TypeBoot, Name: "kiln", State: events.StateReady}
	failed := events.Event{Type: events.TypeTask, Name: "mountState", State: events.StateFailed, Error: "no STATE"}
	tests := []struct {
		name  string
		match func(events.Event) bool
		e     events.Event
		want  bool
	}{
		{"all fields", Match("boot", "kiln", "ready"), ready, true},
		{"wildcards", Match("", "", "ready"), ready, true},
		{"wrong state", Match("boot", "", "started"), ready, false},
		{"wrong name", Match("", "other", ""), ready, false},
		{"failed", Failed, failed, true},
		{"not failed", Failed, ready, false},
		{"any", Any(Match("", "", "ready"), Failed), failed, true},
		{"any none", Any(Match("", "", "ready")), failed, false},
	}
	for _, tt := range tests {
		if got := tt.match(tt.e); got != tt.want {
			t.Errorf("%s: match(%v) = %v, want %v", tt.name, tt.e, got, tt.want)
		}
	}
}

// fakeVM is a VM without QEMU: the tests feed its event and serial logs.
func fakeVM() *VM {
	return &VM{
		name:       "fake",
		logPath:    "/logs/fake.log",
		logf:       func(string, ...any) {},
		serial:     newSerialLog(nil, nil),
		events:     newEventLog(),
		stderr:     newTailBuffer(1024),
		procExited: make(chan struct{}),
		exited:     make(chan struct{}),
	}
}

func (vm *VM) feed(lines ...string) {
	vm.events.readFrom(strings.NewReader(strings.Join(lines, "")), nil, vm.logf)
}

func (vm *VM) fakeExit(err error) {
	vm.exitErr = err
	close(vm.procExited)
	close(vm.exited)
}

func TestWaitEventEarlierEvent(t *testing.T) {
	vm := fakeVM()
	vm.feed(line("phase", "Storage", "done"), line("boot", "kiln", "ready"))
	e, err := vm.WaitEvent(testCtx(t), Match("", "", "ready"))
	if err != nil || e.Name != "kiln" {
		t.Errorf("WaitEvent = %v, %v; want the ready event received before the call", e, err)
	}
}

func TestWaitEventFirstMatch(t *testing.T) {
	vm := fakeVM()
	vm.feed(line("phase", "A", "done"), line("phase", "B", "done"))
	e, err := vm.WaitEvent(testCtx(t), Match("phase", "", "done"))
	if err != nil || e.Name != "A" {
		t.Errorf("WaitEvent = %v, %v; want the first match, A", e, err)
	}
}

func TestWaitEventLater(t *testing.T) {
	vm := fakeVM()
	vm.feed(line("phase", "Storage", "started"))
	go func() {
		time.Sleep(20 * time.Millisecond)
		vm.feed(line("phase", "Storage", "done"))
		time.Sleep(20 * time.Millisecond)
		vm.feed(line("boot", "kiln", "ready"))
	}()
	e, err := vm.WaitEvent(testCtx(t), Match("boot", "", "ready"))
	if err != nil || e.State != "ready" {
		t.Errorf("WaitEvent = %v, %v", e, err)
	}
	if n := len(vm.Events()); n != 3 {
		t.Errorf("Events() has %d events, want 3", n)
	}
}

func TestWaitEventExit(t *testing.T) {
	vm := fakeVM()
	vm.serial.Write([]byte("Booting kiln\r\nKernel panic - not syncing: VFS\r\n"))
	vm.feed(line("phase", "Storage", "failed"))
	go func() {
		time.Sleep(20 * time.Millisecond)
		vm.fakeExit(errors.New("exit status 1"))
	}()
	_, err := vm.WaitEvent(testCtx(t), Match("boot", "", "ready"))
	if !errors.Is(err, ErrExited) {
		t.Fatalf("WaitEvent = %v, want ErrExited", err)
	}
	for _, want := range []string{"Kernel panic - not syncing: VFS", "[phase] Storage: failed", "exit status 1", "/logs/fake.log"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestWaitEventMatchAtExit(t *testing.T) {
	vm := fakeVM()
	vm.feed(line("boot", "kiln", "shutdown"))
	vm.fakeExit(nil)
	if _, err := vm.WaitEvent(testCtx(t), Match("", "", "shutdown")); err != nil {
		t.Errorf("WaitEvent after exit = %v, want the event that did arrive", err)
	}
}

func TestWaitEventTimeout(t *testing.T) {
	vm := fakeVM()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if _, err := vm.WaitEvent(ctx, Match("", "", "ready")); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitEvent = %v, want DeadlineExceeded", err)
	}
}

func TestWaitEventNeedsEvents(t *testing.T) {
	vm := fakeVM()
	vm.events = nil
	if _, err := vm.WaitEvent(testCtx(t), Failed); err == nil || !strings.Contains(err.Error(), "WithEvents") {
		t.Errorf("WaitEvent without events = %v", err)
	}
	if vm.Events() != nil {
		t.Error("Events() without WithEvents is not nil")
	}
}

func TestWaitSerial(t *testing.T) {
	vm := fakeVM()
	go func() {
		for _, s := range []string{"Booting ", "the ker", "nel.\n"} {
			time.Sleep(10 * time.Millisecond)
			io.WriteString(vm.serial, s)
		}
	}()
	if err := vm.WaitSerial(testCtx(t), "the kernel."); err != nil {
		t.Errorf("WaitSerial across writes: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := vm.WaitSerial(ctx, "never"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitSerial(never) = %v, want DeadlineExceeded", err)
	}
	vm.fakeExit(nil)
	if err := vm.WaitSerial(testCtx(t), "never"); !errors.Is(err, ErrExited) {
		t.Errorf("WaitSerial after exit = %v, want ErrExited", err)
	}
}

// FuzzEventLogReadFrom feeds arbitrary guest bytes to the reader: it must not panic, must
// read to the end, and must keep every non-blank line in the raw copy.
func FuzzEventLogReadFrom(f *testing.F) {
	f.Add([]byte(line("boot", "kiln", "ready")))
	f.Add([]byte("{\"type\":\"phase\",\"state\":\"done\",\"fields\":{\"a\":\"b\"}}\r\n\n\x00\xff{"))
	f.Fuzz(func(t *testing.T, stream []byte) {
		r := bytes.NewReader(stream)
		var raw bytes.Buffer
		l := newEventLog()
		l.readFrom(r, &raw, func(string, ...any) {})
		if r.Len() != 0 {
			t.Fatalf("%d bytes left unread", r.Len())
		}
		if len(l.snapshot())+l.bad > strings.Count(raw.String(), "\n") {
			t.Fatalf("%d events and %d bad lines from %d raw lines", len(l.snapshot()), l.bad, strings.Count(raw.String(), "\n"))
		}
	})
}
