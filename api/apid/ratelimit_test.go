package apid

import (
	"fmt"
	"testing"
	"time"
)

type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time { return c.now }

func TestTokenBucket(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1000, 0)}
	l := newLimiter(2, 4, clock.Now)
	allowed := func(n int) int {
		got := 0
		for i := 0; i < n; i++ {
			if l.allow("a") {
				got++
			}
		}
		return got
	}
	if got := allowed(10); got != 4 {
		t.Errorf("fresh bucket allowed %d of 10, want the burst of 4", got)
	}
	clock.now = clock.now.Add(time.Second)
	if got := allowed(10); got != 2 {
		t.Errorf("after 1 s allowed %d, want rate 2", got)
	}
	clock.now = clock.now.Add(time.Hour)
	if got := allowed(10); got != 4 {
		t.Errorf("after an hour allowed %d, want no more than the burst of 4", got)
	}
	if !l.allow("b") {
		t.Error("caller b limited by caller a's use")
	}
}

func TestLimiterForgetsRefilledBuckets(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1000, 0)}
	l := newLimiter(1, 1, clock.Now)
	for i := 0; i < maxBuckets+10; i++ {
		l.allow(fmt.Sprint(i))
	}
	clock.now = clock.now.Add(time.Minute)
	l.allow("new")
	if len(l.buckets) > maxBuckets {
		t.Errorf("%d buckets kept, want at most %d", len(l.buckets), maxBuckets)
	}
}
