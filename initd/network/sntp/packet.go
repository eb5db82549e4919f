package sntp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// PacketLen is the size of the NTP header without extensions.
const PacketLen = 48

// Modes and the version this client speaks (RFC 5905 Figure 10).
const (
	ModeClient    = 3
	ModeServer    = 4
	ModeBroadcast = 5
	Version       = 4
)

// LeapUnsynchronized is the leap indicator of a server whose clock is not synchronized.
const LeapUnsynchronized = 3

// Errors a reply can be refused with.
var (
	ErrShort          = errors.New("sntp: packet shorter than 48 bytes")
	ErrNotServer      = errors.New("sntp: not a server reply")
	ErrKissOfDeath    = errors.New("sntp: kiss-o'-death (stratum 0)")
	ErrUnsynchronized = errors.New("sntp: server clock is unsynchronized (leap 3)")
	ErrOrigin         = errors.New("sntp: origin timestamp does not match the request")
	ErrNoTransmit     = errors.New("sntp: server sent no transmit timestamp")
)

// Packet is the NTP header (RFC 5905 Figure 8).
type Packet struct {
	Leap           uint8 // 2 bits
	Version        uint8 // 3 bits
	Mode           uint8 // 3 bits
	Stratum        uint8
	Poll           int8
	Precision      int8
	RootDelay      uint32 // NTP short format, 16.16 seconds
	RootDispersion uint32
	ReferenceID    uint32
	Reference      Timestamp
	Origin         Timestamp
	Receive        Timestamp
	Transmit       Timestamp
}

// Request returns a client-mode request sent at now. The transmit timestamp comes back
// as the reply's origin timestamp, which ties the reply to this request.
func Request(now time.Time) Packet {
	return Packet{Version: Version, Mode: ModeClient, Transmit: TimestampOf(now)}
}

// Marshal returns the 48-byte wire form.
func (p Packet) Marshal() []byte {
	b := make([]byte, PacketLen)
	b[0] = p.Leap<<6 | (p.Version&7)<<3 | p.Mode&7
	b[1] = p.Stratum
	b[2] = byte(p.Poll)
	b[3] = byte(p.Precision)
	binary.BigEndian.PutUint32(b[4:], p.RootDelay)
	binary.BigEndian.PutUint32(b[8:], p.RootDispersion)
	binary.BigEndian.PutUint32(b[12:], p.ReferenceID)
	binary.BigEndian.PutUint64(b[16:], uint64(p.Reference))
	binary.BigEndian.PutUint64(b[24:], uint64(p.Origin))
	binary.BigEndian.PutUint64(b[32:], uint64(p.Receive))
	binary.BigEndian.PutUint64(b[40:], uint64(p.Transmit))
	return b
}

// Parse decodes the header of b; bytes after the header are ignored.
func Parse(b []byte) (Packet, error) {
	if len(b) < PacketLen {
		return Packet{}, fmt.Errorf("%w: got %d", ErrShort, len(b))
	}
	return Packet{
		Leap:           b[0] >> 6,
		Version:        b[0] >> 3 & 7,
		Mode:           b[0] & 7,
		Stratum:        b[1],
		Poll:           int8(b[2]),
		Precision:      int8(b[3]),
		RootDelay:      binary.BigEndian.Uint32(b[4:]),
		RootDispersion: binary.BigEndian.Uint32(b[8:]),
		ReferenceID:    binary.BigEndian.Uint32(b[12:]),
		Reference:      Timestamp(binary.BigEndian.Uint64(b[16:])),
		Origin:         Timestamp(binary.BigEndian.Uint64(b[24:])),
		Receive:        Timestamp(binary.BigEndian.Uint64(b[32:])),
		Transmit:       Timestamp(binary.BigEndian.Uint64(b[40:])),
	}, nil
}

// CheckReply says whether p is a usable server reply to req (RFC 4330 §5).
func (p Packet) CheckReply(req Packet) error {
	switch {
	case p.Mode != ModeServer:
		return fmt.Errorf("%w: mode %d", ErrNotServer, p.Mode)
	case p.Version < 3 || p.Version > Version:
		return fmt.Errorf("%w: version %d", ErrNotServer, p.Version)
	case p.Stratum == 0:
		return fmt.Errorf("%w: code %q", ErrKissOfDeath, kissCode(p.ReferenceID))
	case p.Leap == LeapUnsynchronized:
		return ErrUnsynchronized
	case p.Origin != req.Transmit:
		return ErrOrigin
	case p.Transmit == 0:
		return ErrNoTransmit
	}
	return nil
}

// kissCode is the four ASCII letters a kiss-o'-death carries in the reference ID
// (RFC 5905 §7.4), e.g. "RATE" or "DENY"; non-printable bytes become '?'.
func kissCode(id uint32) string {
	code := []byte{byte(id >> 24), byte(id >> 16), byte(id >> 8), byte(id)}
	for i, c := range code {
		if c < 0x20 || c > 0x7e {
			code[i] = '?'
		}
	}
	return string(code)
}
