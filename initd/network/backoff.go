package network

import (
	"context"
	"time"
)

// backoff is the delay before the next attempt: base, doubling with each failure up to max.
type backoff struct {
	base, max time.Duration
	failures  int
}

func (b *backoff) next() time.Duration {
	delay := b.base
	for i := 0; i < b.failures && delay < b.max; i++ {
		delay *= 2
	}
	b.failures++
	return min(delay, b.max)
}

func (b *backoff) reset() { b.failures = 0 }

// sleep waits d or until ctx ends, and says whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
