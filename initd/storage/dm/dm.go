// Package dm drives Linux device-mapper through the ioctls on /dev/mapper/control
// (include/uapi/linux/dm-ioctl.h, interface version 4), without libdevmapper or
// dmsetup: Create makes a mapped device from a table of targets and activates it,
// Remove tears it down. Kiln uses it for STATE (a "crypt" target, or "linear" when
// there is no TPM).
//
// It is node-side. It maps exactly the devices and tables it is given; it never reads
// or writes the data behind them. Keys reach the kernel only inside the table of a
// crypt target: the ioctl buffer is zeroed after each call and DM_SECURE_DATA_FLAG asks
// the kernel to wipe its copies. Params are bytes, not a string, so that the hex key in a
// crypt target's can be wiped: the caller calls Clear on the table once Create returns.
package dm

import (
	"encoding/hex"
	"fmt"
	"strconv"
)

// Target is one line of a device-mapper table.
type Target struct {
	Start, Length uint64 // in 512-byte sectors
	Type          string // "crypt", "linear", ...
	Params        []byte // the target's own parameter string; for crypt it holds the key
}

// Clear zeroes every target's Params, which for a crypt target hold the key in hex.
func Clear(table []Target) {
	for _, t := range table {
		clear(t.Params)
	}
}

func (t Target) String() string {
	if t.Type == "crypt" {
		return fmt.Sprintf("%d %d crypt <params hidden: they hold the key>", t.Start, t.Length)
	}
	return fmt.Sprintf("%d %d %s %s", t.Start, t.Length, t.Type, t.Params)
}

// CryptParams is the dm-crypt table parameter string
// "<cipher> <key hex> <iv_offset> <device> <offset>" (Documentation/admin-guide/
// device-mapper/dm-crypt.rst) with an IV offset of 0, so sector numbers in the IV count
// from the start of the data area, as `cryptsetup open --type plain --offset` does.
// It is built in one buffer of its final size, so no grown-and-dropped copy of the key is
// left behind for Clear to miss.
func CryptParams(cipher string, key []byte, dev string, offsetSectors uint64) []byte {
	tail := " 0 " + dev + " " + strconv.FormatUint(offsetSectors, 10)
	p := make([]byte, 0, len(cipher)+1+hex.EncodedLen(len(key))+len(tail))
	p = append(p, cipher...)
	p = append(p, ' ')
	p = hex.AppendEncode(p, key)
	return append(p, tail...)
}

// LinearParams is the dm-linear parameter string "<device> <offset>".
func LinearParams(dev string, offsetSectors uint64) []byte {
	return fmt.Appendf(nil, "%s %d", dev, offsetSectors)
}
