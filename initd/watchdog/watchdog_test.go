package watchdog

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A regular file stands in for /dev/watchdog0: every feed and the magic close are writes.
func fakeDevice(t *testing.T) string {
	path := filepath.Join(t.TempDir(), "watchdog0")
	os.WriteFile(path, nil, 0o600)
	return path
}

func TestRunFeedsAndDisarms(t *testing.T) {
	dev := fakeDevice(t)
	armed := filepath.Join(t.TempDir(), "armed")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- Run(ctx, dev, armed, 30*time.Millisecond, t.Logf) }()
	deadline := time.Now().Add(5 * time.Second)
	for Healthy(armed) != nil && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if err := Healthy(armed); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(dev)
	if feeds := strings.Count(string(data), "\x00"); feeds < 3 {
		t.Errorf("%d feeds in 100 ms at a 10 ms interval", feeds)
	}
	if !strings.HasSuffix(string(data), "V") {
		t.Errorf("no magic close at the end: %q", data)
	}
	if Healthy(armed) == nil {
		t.Error("armed file left behind")
	}
}

func TestFeedStopsAtDeadline(t *testing.T) {
	d, err := Open(fakeDevice(t), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Release()
	start := time.Now()
	err = Feed(context.Background(), d, 10*time.Millisecond, time.Now().Add(50*time.Millisecond))
	if !errors.Is(err, ErrDeadline) {
		t.Fatalf("Feed = %v, want ErrDeadline", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("took %v to notice the deadline", took)
	}
}
