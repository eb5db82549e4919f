package supervisor

import "time"

// backoff is the delay before the next restart: base, doubling with each failure up to
// max, back to base once a run stayed healthy for reset.
type backoff struct {
	base, max, reset time.Duration
	failures         int
}

// next returns the delay after a run that was healthy for healthyFor.
func (b *backoff) next(healthyFor time.Duration) time.Duration {
	if healthyFor >= b.reset {
		b.failures = 0
	}
	delay := b.base
	for i := 0; i < b.failures && delay < b.max; i++ {
		delay *= 2
	}
	b.failures++
	return min(delay, b.max)
}
