package apid

import (
	"sync"
	"time"
)

// limiter is one token bucket per caller: each call takes a token, tokens come back at
// rate per second up to burst.
type limiter struct {
	mu      sync.Mutex
	rate    float64
	burst   float64
	now     func() time.Time
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

// maxBuckets bounds the map; past it, buckets that have refilled are forgotten (a
// forgotten caller starts again with a full bucket, which is the same thing).
const maxBuckets = 4096

func newLimiter(rate float64, burst int, now func() time.Time) *limiter {
	return &limiter{rate: rate, burst: float64(burst), now: now, buckets: map[string]*bucket{}}
}

// allow takes a token from caller's bucket and reports whether there was one.
func (l *limiter) allow(caller string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b, ok := l.buckets[caller]
	if !ok {
		l.prune(now)
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[caller] = b
	}
	b.refill(now, l.rate, l.burst)
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

func (b *bucket) refill(now time.Time, rate, burst float64) {
	if elapsed := now.Sub(b.last).Seconds(); elapsed > 0 {
		b.tokens = min(burst, b.tokens+elapsed*rate)
		b.last = now
	}
}

func (l *limiter) prune(now time.Time) {
	if len(l.buckets) < maxBuckets {
		return
	}
	for caller, b := range l.buckets {
		b.refill(now, l.rate, l.burst)
		if b.tokens >= l.burst {
			delete(l.buckets, caller)
		}
	}
}
