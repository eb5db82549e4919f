package qemu

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

type failingWriter struct{ calls int }

func (w *failingWriter) Write(p []byte) (int, error) {
	w.calls++
	return 0, errors.New("closed")
}

func TestSerialLogFanOut(t *testing.T) {
	var file bytes.Buffer
	tee := &failingWriter{}
	s := newSerialLog(&file, tee)
	for _, p := range []string{"one\n", "two\n"} {
		if n, err := s.Write([]byte(p)); n != len(p) || err != nil {
			t.Fatalf("Write = %d, %v; the serial writer must never fail", n, err)
		}
	}
	if file.String() != "one\ntwo\n" || s.String() != "one\ntwo\n" {
		t.Errorf("file %q, memory %q", file.String(), s.String())
	}
	if tee.calls != 1 {
		t.Errorf("failing tee called %d times, want it dropped after 1", tee.calls)
	}
}

func TestSerialLogKeepsTail(t *testing.T) {
	s := newSerialLog(nil, nil)
	s.Write(bytes.Repeat([]byte("a"), 2*serialKeep))
	s.Write([]byte("end"))
	got := s.String()
	if len(got) != serialKeep || !strings.HasSuffix(got, "end") {
		t.Errorf("kept %d bytes ending %q, want %d ending \"end\"", len(got), got[len(got)-3:], serialKeep)
	}
	if found, _, _ := s.find("aend", 0); !found {
		t.Error("find after trimming missed the tail")
	}
}

func TestSerialFindResumes(t *testing.T) {
	s := newSerialLog(nil, nil)
	s.Write([]byte("booting the ker"))
	found, next, _ := s.find("kernel", 0)
	if found || next != int64(len("booting the ker")-len("kernel")+1) {
		t.Fatalf("find = %v, next %d", found, next)
	}
	s.Write([]byte("nel"))
	if found, _, _ := s.find("kernel", next); !found {
		t.Error("find from the resume offset missed a match across writes")
	}
	if found, _, _ := s.find("booting", next); found {
		t.Error("find found text before the resume offset")
	}
}

func TestLastLines(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"a\r\nb\r\nc\r\n", 2, "b\nc"},
		{"a\nb", 5, "a\nb"},
		{"", 3, ""},
	}
	for _, tt := range tests {
		if got := lastLines(tt.in, tt.n); got != tt.want {
			t.Errorf("lastLines(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}

func TestTailBuffer(t *testing.T) {
	b := newTailBuffer(4)
	b.Write([]byte("abc"))
	b.Write([]byte("def"))
	if b.String() != "cdef" {
		t.Errorf("tail = %q, want cdef", b.String())
	}
}

func TestVMName(t *testing.T) {
	if got := vmName("TestBoot/secure boot"); got != "TestBoot_secure_boot" {
		t.Errorf("vmName = %q", got)
	}
	a, b := vmName(""), vmName("")
	if a == b || a == "" {
		t.Errorf("default names %q and %q are not unique", a, b)
	}
}

func TestResolveLogDir(t *testing.T) {
	if got := resolveLogDir("/x"); got != "/x" {
		t.Errorf("explicit dir: %q", got)
	}
	// The tests run in the package folder; the module root is one up.
	if got := resolveLogDir(""); !strings.HasSuffix(got, "/_out/qemu-logs") || strings.Contains(got, "/qemu/_out") {
		t.Errorf("default dir %q, want <module root>/_out/qemu-logs", got)
	}
}
