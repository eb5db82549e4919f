package efivar

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// ErrTime is returned for a timestamp EFI_TIME cannot hold or an
// authenticated variable must not carry.
var ErrTime = errors.New("efivar: invalid EFI_TIME")

// efiTimeSize is sizeof(EFI_TIME).
const efiTimeSize = 16

// encodeTime returns t as the EFI_TIME of an EFI_VARIABLE_AUTHENTICATION_2:
// UTC, whole seconds, and Pad1, Nanosecond, TimeZone, Daylight and Pad2 zero,
// as the specification requires for that descriptor. Sub-second parts of t
// are dropped.
func encodeTime(t time.Time) ([efiTimeSize]byte, error) {
	var b [efiTimeSize]byte
	t = t.UTC()
	if t.Year() < 1900 || t.Year() > 9999 {
		return b, fmt.Errorf("%w: year %d is outside 1900-9999", ErrTime, t.Year())
	}
	binary.LittleEndian.PutUint16(b[0:], uint16(t.Year()))
	b[2], b[3] = byte(t.Month()), byte(t.Day())
	b[4], b[5], b[6] = byte(t.Hour()), byte(t.Minute()), byte(t.Second())
	return b, nil // b[7:16]: Pad1, Nanosecond, TimeZone, Daylight, Pad2 stay zero
}

// decodeTime reads an authentication descriptor's EFI_TIME. It rejects the
// non-zero padding, nanoseconds, time zone and daylight fields that firmware
// rejects too, and fields out of their ranges.
func decodeTime(b []byte) (time.Time, error) {
	for _, x := range b[7:efiTimeSize] {
		if x != 0 {
			return time.Time{}, fmt.Errorf("%w: Pad1, Nanosecond, TimeZone, Daylight and Pad2 must be zero", ErrTime)
		}
	}
	year := int(binary.LittleEndian.Uint16(b))
	month, day, hour, minute, second := int(b[2]), int(b[3]), int(b[4]), int(b[5]), int(b[6])
	t := time.Date(year, time.Month(month), day, hour, minute, second, 0, time.UTC)
	if t.Year() != year || int(t.Month()) != month || t.Day() != day ||
		t.Hour() != hour || t.Minute() != minute || t.Second() != second {
		return time.Time{}, fmt.Errorf("%w: %04d-%02d-%02d %02d:%02d:%02d", ErrTime, year, month, day, hour, minute, second)
	}
	return t, nil
}
