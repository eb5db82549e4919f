package supervisor

import (
	"fmt"
	"time"
)

// verdict is what one health check result means for the run.
type verdict int

const (
	steady       verdict = iota // nothing changed
	nowHealthy                  // first success, or success after failures
	nowUnhealthy                // a failure below the threshold
	giveUp                      // the run is over: restart
)

// healthTracker turns health check results into verdicts: before the first success,
// failures are the service still starting up and only StartTimeout ends the run; after
// it, threshold failures in a row do.
type healthTracker struct {
	started      time.Time
	startTimeout time.Duration
	threshold    int

	everHealthy  bool
	healthySince time.Time     // zero while not healthy
	lastStreak   time.Duration // length of the last healthy stretch that ended
	failures     int
}

func (h *healthTracker) observe(now time.Time, err error) (verdict, error) {
	if err == nil {
		h.everHealthy, h.failures = true, 0
		if h.healthySince.IsZero() {
			h.healthySince = now
			return nowHealthy, nil
		}
		return steady, nil
	}
	if !h.healthySince.IsZero() {
		h.lastStreak = now.Sub(h.healthySince)
		h.healthySince = time.Time{}
	}
	if !h.everHealthy {
		if now.Sub(h.started) >= h.startTimeout {
			return giveUp, fmt.Errorf("not healthy %s after start: %w", h.startTimeout, err)
		}
		return steady, nil
	}
	h.failures++
	if h.failures >= h.threshold {
		return giveUp, fmt.Errorf("unhealthy after %d failed checks in a row: %w", h.failures, err)
	}
	return nowUnhealthy, err
}

// healthyFor is how long the service is or was last healthy without interruption; it
// decides whether the run was good enough to reset the backoff.
func (h *healthTracker) healthyFor(now time.Time) time.Duration {
	if h.healthySince.IsZero() {
		return h.lastStreak
	}
	return now.Sub(h.healthySince)
}
