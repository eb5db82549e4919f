package controller

import "time"

// backoff is the delay before retrying a failed reconcile: base, doubling with each
// failure in a row up to max.
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
