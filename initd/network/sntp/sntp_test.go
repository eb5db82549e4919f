package sntp

import (
	"bytes"
	"context"
	"errors"
	"net"
	"testing"
	"time"
)

func TestTimestampKnownValues(t *testing.T) {
	for _, c := range []struct {
		when time.Time
		secs uint32 // seconds field on the wire
	}{
		{time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), 3913056000},
		{time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC), 2208988800},
		// After the 2036 wrap the seconds restart from zero (era 1).
		{time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC), 123010304},
	} {
		ts := TimestampOf(c.when)
		if got := uint32(ts >> 32); got != c.secs {
			t.Errorf("%v: seconds %d, want %d", c.when, got, c.secs)
		}
		if got := ts.Time(); !got.Equal(c.when) {
			t.Errorf("%v: back as %v", c.when, got)
		}
	}
}

func TestTimestampFractionRoundTrip(t *testing.T) {
	for _, ns := range []int{0, 1, 499_999_999, 500_000_000, 999_999_999} {
		when := time.Date(2025, 6, 1, 12, 0, 0, ns, time.UTC)
		if got := TimestampOf(when).Time(); !got.Equal(when) {
			t.Errorf("%d ns: back as %v", ns, got.Nanosecond())
		}
	}
	if frac := uint32(TimestampOf(time.Unix(0, 500_000_000))); frac != 1<<31 {
		t.Errorf("half a second is fraction %#x, want 0x80000000", frac)
	}
}

func TestPacketRoundTrip(t *testing.T) {
	p := Packet{Leap: 1, Version: 4, Mode: ModeServer, Stratum: 2, Poll: 6, Precision: -20,
		RootDelay: 0x10, RootDispersion: 0x20, ReferenceID: 0x7f000001,
		Reference: 1, Origin: 2, Receive: 3, Transmit: 1<<63 | 4}
	b := p.Marshal()
	if len(b) != PacketLen || b[0] != 0x64 {
		t.Fatalf("wire %x", b)
	}
	got, err := Parse(append(b, 0xde, 0xad)) // trailing extension bytes are ignored
	if err != nil {
		t.Fatal(err)
	}
	if got != p {
		t.Errorf("round trip %+v, want %+v", got, p)
	}
	if _, err := Parse(b[:47]); !errors.Is(err, ErrShort) {
		t.Errorf("47 bytes: %v", err)
	}
}

func TestRequestIsClientMode(t *testing.T) {
	b := Request(time.Unix(1700000000, 0)).Marshal()
	if b[0] != 0x23 { // LI 0, VN 4, mode 3
		t.Errorf("first byte %#x, want 0x23", b[0])
	}
}

func TestCheckReply(t *testing.T) {
	req := Request(time.Unix(1700000000, 0))
	good := Packet{Version: 4, Mode: ModeServer, Stratum: 1, Origin: req.Transmit, Transmit: 99}
	if err := good.CheckReply(req); err != nil {
		t.Fatalf("good reply refused: %v", err)
	}
	kiss := good
	kiss.Stratum, kiss.ReferenceID = 0, 0x52415445 // "RATE"
	for name, c := range map[string]struct {
		p    Packet
		want error
	}{
		"client mode":   {with(good, func(p *Packet) { p.Mode = ModeClient }), ErrNotServer},
		"broadcast":     {with(good, func(p *Packet) { p.Mode = ModeBroadcast }), ErrNotServer},
		"version 2":     {with(good, func(p *Packet) { p.Version = 2 }), ErrNotServer},
		"kiss":          {kiss, ErrKissOfDeath},
		"leap 3":        {with(good, func(p *Packet) { p.Leap = LeapUnsynchronized }), ErrUnsynchronized},
		"other origin":  {with(good, func(p *Packet) { p.Origin++ }), ErrOrigin},
		"zero transmit": {with(good, func(p *Packet) { p.Transmit = 0 }), ErrNoTransmit},
	} {
		if err := c.p.CheckReply(req); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
	if err := kiss.CheckReply(req); err == nil || !bytes.Contains([]byte(err.Error()), []byte("RATE")) {
		t.Errorf("kiss-o'-death error does not name the code: %v", err)
	}
}

func with(p Packet, change func(*Packet)) Packet {
	change(&p)
	return p
}

func TestOffset(t *testing.T) {
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	// The local clock is 10 s behind; the path is 40 ms each way and the server holds
	// the request 5 ms.
	t1 := base
	t2 := base.Add(10*time.Second + 40*time.Millisecond)
	t3 := t2.Add(5 * time.Millisecond)
	t4 := base.Add(85 * time.Millisecond)
	offset, delay := Offset(t1, t2, t3, t4)
	if offset != 10*time.Second || delay != 80*time.Millisecond {
		t.Errorf("offset %v delay %v, want 10s 80ms", offset, delay)
	}
	// A node booting with its clock at 1970 is decades behind; no overflow.
	offset, _ = Offset(time.Unix(0, 0), base, base, time.Unix(0, 0))
	if want := base.Sub(time.Unix(0, 0)); offset != want {
		t.Errorf("1970 offset %v, want %v", offset, want)
	}
}

func TestQueryAgainstLocalServer(t *testing.T) {
	serverClock := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	addr := serveSNTP(t, func(req Packet) []byte {
		return Packet{Version: 4, Mode: ModeServer, Stratum: 2, Origin: req.Transmit,
			Receive: TimestampOf(serverClock), Transmit: TimestampOf(serverClock)}.Marshal()
	})
	localClock := serverClock.Add(-time.Hour)
	res, err := Query(context.Background(), addr, func() time.Time { return localClock })
	if err != nil {
		t.Fatal(err)
	}
	if res.Offset != time.Hour || res.Stratum != 2 {
		t.Errorf("result %+v, want offset 1h stratum 2", res)
	}
}

func TestQueryRefusesForgedOrigin(t *testing.T) {
	addr := serveSNTP(t, func(req Packet) []byte {
		return Packet{Version: 4, Mode: ModeServer, Stratum: 2, Origin: req.Transmit + 1, Transmit: 1}.Marshal()
	})
	_, err := Query(context.Background(), addr, time.Now)
	if !errors.Is(err, ErrOrigin) {
		t.Errorf("forged origin: %v", err)
	}
}

// serveSNTP answers every request on a loopback UDP port with reply(request).
func serveSNTP(t *testing.T, reply func(Packet) []byte) string {
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Skipf("no loopback UDP: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	go func() {
		buf := make([]byte, 512)
		for {
			n, peer, err := conn.ReadFrom(buf)
			if err != nil {
				return
			}
			req, err := Parse(buf[:n])
			if err != nil {
				continue
			}
			conn.WriteTo(reply(req), peer)
		}
	}()
	return conn.LocalAddr().String()
}

func FuzzParse(f *testing.F) {
	f.Add(Packet{Version: 4, Mode: ModeServer, Stratum: 1, Transmit: 7}.Marshal())
	f.Add([]byte{0x23})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Parse(b)
		if err != nil {
			if len(b) >= PacketLen {
				t.Fatalf("refused %d bytes: %v", len(b), err)
			}
			return
		}
		if !bytes.Equal(p.Marshal(), b[:PacketLen]) {
			t.Fatalf("re-marshal differs from the header")
		}
		p.CheckReply(Request(time.Unix(0, 0)))
		p.Transmit.Time()
	})
}
