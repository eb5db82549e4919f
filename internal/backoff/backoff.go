// Package backoff is the retry delay that machined's loops share (DHCP, time sync,
// controllers): Base, doubling with each failure in a row, capped at Max.
//
// It is a shared leaf: no clock, no sleeping, no imports of the node or the builder.
package backoff

import "time"

// Backoff counts failures in a row. The zero value retries at once; set Base and Max.
type Backoff struct {
	Base, Max time.Duration
	failures  int
}

// Next returns the delay before the next attempt and counts a failure.
func (b *Backoff) Next() time.Duration {
	delay := b.Base
	for i := 0; i < b.failures && delay < b.Max; i++ {
		delay *= 2
	}
	b.failures++
	return min(delay, b.Max)
}

// Reset starts over after a success.
func (b *Backoff) Reset() { b.failures = 0 }
