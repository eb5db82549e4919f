package logbuf

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func texts(lines []Line) string {
	var s []string
	for _, l := range lines {
		s = append(s, l.Text)
	}
	return strings.Join(s, "|")
}

func TestWriteSplitsLinesAndKeepsPartial(t *testing.T) {
	b := New(10, nil)
	b.Write([]byte("one\r\ntw"))
	b.Write([]byte("o\nthree"))
	if got := texts(b.Tail(-1)); got != "one|two" {
		t.Errorf("lines %q", got)
	}
	b.Write([]byte("\n"))
	if got := texts(b.Tail(1)); got != "three" {
		t.Errorf("tail 1 = %q", got)
	}
}

func TestRingKeepsNewest(t *testing.T) {
	b := New(3, nil)
	for _, s := range []string{"a", "b", "c", "d", "e"} {
		b.Write([]byte(s + "\n"))
	}
	if got := texts(b.Tail(-1)); got != "c|d|e" {
		t.Errorf("ring = %q", got)
	}
	if got := texts(b.Tail(2)); got != "d|e" {
		t.Errorf("tail 2 = %q", got)
	}
}

func TestLongLineIsSplit(t *testing.T) {
	b := New(10, nil)
	b.Write([]byte(strings.Repeat("x", MaxLine+5) + "\n"))
	lines := b.Tail(-1)
	if len(lines) != 2 || len(lines[0].Text) != MaxLine || len(lines[1].Text) != 5 {
		t.Errorf("got %d lines", len(lines))
	}
}

func TestFollow(t *testing.T) {
	b := New(10, nil)
	b.Write([]byte("old\n"))
	ctx, cancel := context.WithCancel(context.Background())
	ch, why := b.Follow(ctx, -1)
	b.Write([]byte("new\n"))
	var got []Line
	for len(got) < 2 {
		select {
		case l := <-ch:
			got = append(got, l)
		case <-time.After(5 * time.Second):
			t.Fatal("no line")
		}
	}
	if texts(got) != "old|new" {
		t.Errorf("followed %q", texts(got))
	}
	cancel()
	for range ch {
	}
	if !errors.Is(why(), context.Canceled) {
		t.Errorf("end %v", why())
	}
}

func TestSlowFollowerDoesNotBlockWriter(t *testing.T) {
	b := New(10, nil)
	ch, why := b.Follow(context.Background(), 0)
	done := make(chan struct{})
	go func() {
		for i := 0; i < FollowBuffer+5; i++ {
			b.Write([]byte("x\n"))
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("writer blocked")
	}
	n := 0
	for range ch {
		n++
	}
	if n != FollowBuffer || !errors.Is(why(), ErrSlowReader) {
		t.Errorf("%d lines, %v", n, why())
	}
}

func TestSetTee(t *testing.T) {
	var seen []string
	s := NewSet(func(src string, l Line) { seen = append(seen, src+":"+l.Text) })
	s.Get("apid").Write([]byte("hello\n"))
	if _, ok := s.Lookup("apid"); !ok || strings.Join(seen, ",") != "apid:hello" || strings.Join(s.Sources(), ",") != "apid" {
		t.Errorf("seen %v sources %v", seen, s.Sources())
	}
}
