package supervisor

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
)

func TestCommand(t *testing.T) {
	r := NewReaper(logrus.New())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.Run(ctx)
	out, err := r.Command(context.Background(), []string{"/bin/sh", "-c", "echo out; echo err >&2"}, nil, nil, nil)
	if err != nil || string(out) != "out\n" {
		t.Errorf("Command = %q, %v", out, err)
	}
	_, err = r.Command(context.Background(), []string{"/bin/sh", "-c", "echo why >&2; exit 3"}, nil, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "why") {
		t.Errorf("a failing command: %v, want its stderr in the error", err)
	}
	out, err = r.Command(context.Background(), []string{"/bin/sh", "-c", `read -r line; printf %s "$line"`}, nil, []byte("piped"), nil)
	if err != nil || string(out) != "piped" {
		t.Errorf("stdin: %q, %v", out, err)
	}
	short, stop := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer stop()
	start := time.Now()
	if _, err := r.Command(short, []string{"/bin/sh", "-c", "while :; do :; done"}, nil, nil, nil); err == nil || time.Since(start) > 10*time.Second {
		t.Errorf("a command past its context: %v after %s", err, time.Since(start))
	}
}
