package kmsg

import (
	"context"
	"os"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	r, err := Parse([]byte("6,339,5140900,-;NET: Registered \\x41 protocol family 10\n SUBSYSTEM=net\n"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Priority != 6 || r.Level() != 6 || r.Seq != 339 || r.Uptime != 5140900*time.Microsecond || r.Text != "NET: Registered A protocol family 10" {
		t.Errorf("%+v", r)
	}
	for _, bad := range []string{"", "no semicolon", "6,1;x", "a,1,2,-;x", "-1,1,2,-;x"} {
		if _, err := Parse([]byte(bad)); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}

func TestReadHostKmsg(t *testing.T) {
	if _, err := os.Stat(Device); err != nil {
		t.Skipf("no %s on this host", Device)
	}
	var n int
	err := Read(context.Background(), Device, 5, false, func(Record) error { n++; return nil })
	if os.IsPermission(err) {
		t.Skipf("reading %s needs privilege: %v", Device, err)
	}
	if err != nil || n == 0 || n > 5 {
		t.Errorf("read %d records, %v", n, err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("6,339,5140900,-;text"))
	f.Add([]byte("0,0,0;\\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Parse(b)
		if err == nil && r.Priority < 0 {
			t.Errorf("negative priority accepted")
		}
	})
}
