package sntp

import "time"

// Timestamp is the NTP 64-bit timestamp: seconds since 1900-01-01 UTC in the high 32
// bits, the fraction of a second in the low 32 bits.
type Timestamp uint64

// ntpToUnix is the number of seconds from 1900-01-01 to 1970-01-01.
const ntpToUnix = 2208988800

// The 32-bit seconds wrap on 2036-02-07 (era 1). RFC 4330 §3: a timestamp with the most
// significant bit clear is read as era 1, so this client keeps working until 2104 as
// long as it never sees a time before 1968.
const eraSeconds = 1 << 32

// TimestampOf converts t, modulo the 136-year era.
func TimestampOf(t time.Time) Timestamp {
	secs := uint32(t.Unix() + ntpToUnix)
	frac := uint64(t.Nanosecond()) << 32 / uint64(time.Second)
	return Timestamp(uint64(secs)<<32 | frac)
}

// Time converts ts to a time between 1968 and 2104.
func (ts Timestamp) Time() time.Time {
	secs := int64(ts >> 32)
	if secs&0x80000000 == 0 {
		secs += eraSeconds
	}
	nanos := (uint64(ts&0xffffffff)*uint64(time.Second) + 1<<31) >> 32
	return time.Unix(secs-ntpToUnix, int64(nanos)).UTC()
}

// Offset returns how far the local clock is behind the server's (add it to correct the
// clock) and the round-trip delay, from the request's send time t1, the server's receive
// time t2 and transmit time t3, and the reply's arrival time t4 (RFC 4330 §5).
func Offset(t1, t2, t3, t4 time.Time) (offset, delay time.Duration) {
	offset = (t2.Sub(t1) + t3.Sub(t4)) / 2
	delay = t4.Sub(t1) - t3.Sub(t2)
	return offset, delay
}
