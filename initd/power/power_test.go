package power

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func event(typ, code uint16, value int32) []byte {
	b := make([]byte, inputEventSize)
	binary.LittleEndian.PutUint16(b[16:], typ)
	binary.LittleEndian.PutUint16(b[18:], code)
	binary.LittleEndian.PutUint32(b[20:], uint32(value))
	return b
}

func TestWatchSendsOnPowerKeyDownOnly(t *testing.T) {
	var stream bytes.Buffer
	stream.Write(event(evKey, 30, 1))       // KEY_A down: ignored
	stream.Write(event(evKey, keyPower, 1)) // power down
	stream.Write(event(0, 0, 0))            // SYN
	stream.Write(event(evKey, keyPower, 0)) // power up: ignored
	pressed := make(chan struct{}, 4)
	err := Watch(context.Background(), &stream, pressed)
	if err != io.EOF {
		t.Fatalf("Watch = %v, want EOF at end of stream", err)
	}
	if len(pressed) != 1 {
		t.Fatalf("pressed %d times, want 1", len(pressed))
	}
}

func TestFindButtons(t *testing.T) {
	sys := t.TempDir()
	for dir, name := range map[string]string{"event0": "Power Button\n", "event1": "AT Translated Set 2 keyboard\n"} {
		os.MkdirAll(filepath.Join(sys, dir, "device"), 0o755)
		os.WriteFile(filepath.Join(sys, dir, "device", "name"), []byte(name), 0o644)
	}
	got := FindButtons(sys, "/dev/input")
	if len(got) != 1 || got[0] != "/dev/input/event0" {
		t.Errorf("FindButtons = %v", got)
	}
}
