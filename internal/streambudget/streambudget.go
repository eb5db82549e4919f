// Package streambudget counts the streams a server holds open, per caller and in all,
// and refuses one over either limit with a gRPC ResourceExhausted status that names the
// limit. apid and machined each keep one (DESIGN.md, "API": every caller has a budget),
// so both refuse the same way and a caller cannot multiply its budget by opening more
// connections.
package streambudget

import (
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Budget counts open streams. Server names the server in refusals ("apid", "machined").
type Budget struct {
	Server    string
	PerCaller int // streams one caller may hold at once
	Total     int // streams the server holds at once, whoever asks

	mu        sync.Mutex
	perCaller map[string]int
	total     int
}

// Take reserves a stream for who, or returns the status that names the limit refusing it.
// who is the caller as a refusal names it: `caller "CN"`, or `client ADDRESS`. Every
// successful Take must be matched by one Give.
func (b *Budget) Take(who string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.perCaller[who] >= b.PerCaller {
		return status.Errorf(codes.ResourceExhausted,
			"%s already has %d streams open (logs, dmesg, events, watch, upgrade), %s's limit per caller; end one and try again",
			who, b.PerCaller, b.Server)
	}
	if b.total >= b.Total {
		return status.Errorf(codes.ResourceExhausted,
			"%s already holds %d streams (logs, dmesg, events, watch, upgrade), its limit; try again when some end", b.Server, b.Total)
	}
	if b.perCaller == nil {
		b.perCaller = map[string]int{}
	}
	b.perCaller[who]++
	b.total++
	return nil
}

// Give returns the stream Take reserved for who.
func (b *Budget) Give(who string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.total--
	if b.perCaller[who]--; b.perCaller[who] <= 0 {
		delete(b.perCaller, who)
	}
}
