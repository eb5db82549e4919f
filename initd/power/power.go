// Package power turns a press of the ACPI power button into a request machined acts on.
// The kernel's ACPI button driver exposes the button as an evdev device named
// "Power Button"; this package finds such devices through sysfs and reads their key events.
//
// It only reads input devices; shutting down is machined's job.
package power

import (
	"context"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Linux input event codes (include/uapi/linux/input-event-codes.h).
const (
	evKey    = 0x01
	keyPower = 116
)

// inputEventSize is sizeof(struct input_event) on 64-bit Linux: a timeval (16 bytes),
// type and code (2 bytes each) and value (4 bytes).
const inputEventSize = 24

// FindButtons returns the /dev/input/eventN devices whose name contains "Power Button".
func FindButtons(sysClassInput, devInput string) []string {
	dirs, _ := filepath.Glob(filepath.Join(sysClassInput, "event*"))
	var out []string
	for _, d := range dirs {
		name, err := os.ReadFile(filepath.Join(d, "device", "name"))
		if err == nil && strings.Contains(string(name), "Power Button") {
			out = append(out, filepath.Join(devInput, filepath.Base(d)))
		}
	}
	return out
}

// Watch reads key events from r and sends on pressed each time the power key goes down. It
// returns when r fails or ctx ends (the caller closes r to unblock the read).
func Watch(ctx context.Context, r io.Reader, pressed chan<- struct{}) error {
	buf := make([]byte, inputEventSize)
	for {
		if _, err := io.ReadFull(r, buf); err != nil {
			return err
		}
		typ := binary.LittleEndian.Uint16(buf[16:])
		code := binary.LittleEndian.Uint16(buf[18:])
		value := int32(binary.LittleEndian.Uint32(buf[20:]))
		if typ == evKey && code == keyPower && value == 1 {
			select {
			case pressed <- struct{}{}:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
}
