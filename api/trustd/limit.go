package trustd

import (
	"context"
	"net"
	"sync"
	"time"

	"google.golang.org/grpc/peer"
)

// The join token is the only secret between a stranger on the network and a signed server
// certificate, so guesses at it are rationed per source address: GuessLimit wrong tokens
// in GuessWindow, counted from the first of them. A source over its budget is refused
// without its token being compared, even the right one, until the window passes. At most
// MaxSources sources are counted at once; when that many have guessed within a window, a
// new source is refused too (closed, not open: forgetting an attacker would reset its
// budget).
const (
	GuessLimit  = 10
	GuessWindow = 10 * time.Minute
	MaxSources  = 4096
)

// guessBudget counts join-token attempts per source. The zero value is ready to use.
type guessBudget struct {
	mu       sync.Mutex
	bySource map[string]*attempts
}

type attempts struct {
	first time.Time // when the window started
	wrong int
}

// take spends one guess for source and reports whether its token may be compared. It
// spends before the comparison so that concurrent requests cannot all pass a check made
// before any of them was counted; refund gives the guess back when the token was right.
func (b *guessBudget) take(source string, now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	a := b.bySource[source]
	if a != nil && now.Sub(a.first) >= GuessWindow {
		a = nil
	}
	if a == nil {
		if !b.makeRoom(now) {
			return false
		}
		a = &attempts{first: now}
		b.bySource[source] = a
	}
	if a.wrong >= GuessLimit {
		return false
	}
	a.wrong++
	return true
}

func (b *guessBudget) refund(source string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if a := b.bySource[source]; a != nil && a.wrong > 0 {
		a.wrong--
	}
}

// makeRoom forgets sources whose window has passed once the table is full, and reports
// whether there is room for one more.
func (b *guessBudget) makeRoom(now time.Time) bool {
	if b.bySource == nil {
		b.bySource = make(map[string]*attempts)
	}
	if len(b.bySource) < MaxSources {
		return true
	}
	for source, a := range b.bySource {
		if now.Sub(a.first) >= GuessWindow {
			delete(b.bySource, source)
		}
	}
	return len(b.bySource) < MaxSources
}

// sourceOf names the caller by IP address without the port, which the caller chooses
// freely. An IPv6 caller is named by its /64, the smallest block a site is given: one
// host holds all of it.
func sourceOf(ctx context.Context) string {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return ""
	}
	return sourceOfAddr(p.Addr)
}

func sourceOfAddr(addr net.Addr) string {
	if addr == nil {
		return ""
	}
	host, _, err := net.SplitHostPort(addr.String())
	if err != nil {
		host = addr.String()
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return host
	}
	if ip.To4() == nil {
		ip = ip.Mask(net.CIDRMask(64, 128))
	}
	return ip.String()
}
