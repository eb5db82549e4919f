package netboot

import (
	"net/netip"
	"sync"
	"time"
)

// offerHold is how long an offered address stays reserved for the client it was offered
// to before it becomes free for others (RFC 2131 4.3.1 leaves the time to the server).
const offerHold = time.Minute

// leases is the --range server's memory: one binding per MAC, kept after it ends so that
// a client gets the same address back as long as no other client took it. Nothing is
// written to disk: a lab server that restarts starts with an empty table, and clients
// in INIT-REBOOT are then met with silence and start over (RFC 2131 4.3.2).
type leases struct {
	mu       sync.Mutex
	pool     addrRange
	ttl      time.Duration
	byMAC    map[string]*binding
	byAddr   map[netip.Addr]string // address → MAC
	declined map[netip.Addr]time.Time
}

// binding is one client's address: offered until bound, then leased until expires.
type binding struct {
	addr    netip.Addr
	bound   bool
	expires time.Time
}

func newLeases(pool addrRange, ttl time.Duration) *leases {
	return &leases{pool: pool, ttl: ttl, byMAC: map[string]*binding{}, byAddr: map[netip.Addr]string{}, declined: map[netip.Addr]time.Time{}}
}

// offer returns the address to offer mac: its binding, else the address it asks for
// when that is free, else the first free one; false when the pool is exhausted.
func (l *leases) offer(mac string, requested netip.Addr, now time.Time) (netip.Addr, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if b, ok := l.byMAC[mac]; ok && l.usable(b.addr, mac, now) {
		if !b.bound || b.expires.Before(now) {
			b.bound, b.expires = false, now.Add(offerHold)
		}
		return b.addr, true
	}
	if l.inPool(requested) && l.usable(requested, mac, now) {
		return l.take(mac, requested, now), true
	}
	for a := l.pool.From; !l.pool.To.Less(a); a = a.Next() {
		if l.usable(a, mac, now) {
			return l.take(mac, a, now), true
		}
	}
	return netip.Addr{}, false
}

// bind turns mac's binding to addr into a lease; false when mac holds no binding to
// addr (the server did not offer it, or the binding went to another client).
func (l *leases) bind(mac string, addr netip.Addr, now time.Time) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.byMAC[mac]
	if !ok || b.addr != addr || l.byAddr[addr] != mac {
		return 0, false
	}
	b.bound, b.expires = true, now.Add(l.ttl)
	return l.ttl, true
}

// lookup returns mac's bound address, if it has one.
func (l *leases) lookup(mac string) (netip.Addr, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.byMAC[mac]
	if !ok || l.byAddr[b.addr] != mac {
		return netip.Addr{}, false
	}
	return b.addr, true
}

// release ends mac's lease of addr; the address is free again (RFC 2131 4.3.4).
func (l *leases) release(mac string, addr netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.unbindLocked(mac, addr)
}

// decline marks addr as in use by someone else: it is not offered for a lease time,
// and mac loses its binding, so its next DISCOVER gets another address (RFC 2131 4.3.3).
func (l *leases) decline(mac string, addr netip.Addr, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.unbindLocked(mac, addr) {
		return false
	}
	l.declined[addr] = now.Add(l.ttl)
	return true
}

// unbindLocked drops mac's binding when it is to addr, and says whether it was.
func (l *leases) unbindLocked(mac string, addr netip.Addr) bool {
	b, ok := l.byMAC[mac]
	if !ok || b.addr != addr {
		return false
	}
	delete(l.byMAC, mac)
	delete(l.byAddr, addr)
	return true
}

func (l *leases) inPool(a netip.Addr) bool {
	return a.IsValid() && !a.Less(l.pool.From) && !l.pool.To.Less(a)
}

// usable: addr is not declined, and free or mac's own or held by a binding that ended.
func (l *leases) usable(addr netip.Addr, mac string, now time.Time) bool {
	if until, ok := l.declined[addr]; ok {
		if now.Before(until) {
			return false
		}
		delete(l.declined, addr)
	}
	holder, ok := l.byAddr[addr]
	if !ok || holder == mac {
		return true
	}
	return l.byMAC[holder].expires.Before(now)
}

// take gives addr to mac, ending whatever binding either had.
func (l *leases) take(mac string, addr netip.Addr, now time.Time) netip.Addr {
	if holder, ok := l.byAddr[addr]; ok {
		delete(l.byMAC, holder)
	}
	if old, ok := l.byMAC[mac]; ok {
		delete(l.byAddr, old.addr)
	}
	l.byMAC[mac] = &binding{addr: addr, expires: now.Add(offerHold)}
	l.byAddr[addr] = mac
	return addr
}
