package dm

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// The ioctl numbers as the C macros expand them (DM_DEV_CREATE etc. printed by a C
// program including <linux/dm-ioctl.h> on x86-64).
func TestIoctlNumbers(t *testing.T) {
	for cmd, want := range map[uint32]uintptr{
		cmdDevCreate: 0xc138fd03, cmdDevRemove: 0xc138fd04,
		cmdDevSuspend: 0xc138fd06, cmdTableLoad: 0xc138fd09,
	} {
		if got := ioctlNumber(cmd); got != want {
			t.Errorf("cmd %d: %#x, want %#x", cmd, got, want)
		}
	}
}

// TestEncodeLayout checks each field lands where struct dm_ioctl and struct
// dm_target_spec put it: version[3] at 0, data_size 12, data_start 16, target_count 20,
// flags 28, dev 40, name[128] 48, uuid[129] 176, data at 305, sizeof 312; spec
// sector_start 0, length 8, status 16, next 20, target_type[16] 24, sizeof 40.
func TestEncodeLayout(t *testing.T) {
	req := request{name: "kiln-state", uuid: "KILN-STATE-1234", targets: []Target{
		{Start: 0, Length: 100, Type: "linear", Params: []byte("/dev/loop0 2048")},
		{Start: 100, Length: 50, Type: "zero"},
	}}
	buf, err := req.encode()
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	u32 := func(off int) uint32 { return le.Uint32(buf[off:]) }
	if u32(0) != 4 || u32(4) != 0 || u32(8) != 0 {
		t.Errorf("version %d.%d.%d, want 4.0.0", u32(0), u32(4), u32(8))
	}
	if int(u32(12)) != len(buf) || u32(16) != 312 || u32(20) != 2 {
		t.Errorf("data_size %d (len %d) data_start %d target_count %d", u32(12), len(buf), u32(16), u32(20))
	}
	if u32(28)&flagSecureData == 0 {
		t.Error("DM_SECURE_DATA_FLAG not set")
	}
	if got := cstr(buf[48 : 48+128]); got != "kiln-state" {
		t.Errorf("name %q", got)
	}
	if got := cstr(buf[176 : 176+129]); got != "KILN-STATE-1234" {
		t.Errorf("uuid %q", got)
	}
	spec := buf[312:]
	next := le.Uint32(spec[20:])
	if le.Uint64(spec[0:]) != 0 || le.Uint64(spec[8:]) != 100 || cstr(spec[24:40]) != "linear" {
		t.Errorf("first spec: start %d length %d type %q", le.Uint64(spec[0:]), le.Uint64(spec[8:]), cstr(spec[24:40]))
	}
	if cstr(spec[40:]) != "/dev/loop0 2048" || next%8 != 0 || next < 40+16 {
		t.Errorf("first spec params %q next %d", cstr(spec[40:]), next)
	}
	second := spec[next:]
	if le.Uint64(second[0:]) != 100 || le.Uint64(second[8:]) != 50 || cstr(second[24:40]) != "zero" || cstr(second[40:]) != "" {
		t.Errorf("second spec wrong: % x", second[:48])
	}
}

func cstr(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\x00")
	return s
}

func TestEncodeRefuses(t *testing.T) {
	for name, req := range map[string]request{
		"empty name":     {name: ""},
		"long name":      {name: strings.Repeat("n", 128)},
		"long uuid":      {name: "x", uuid: strings.Repeat("u", 129)},
		"long type":      {name: "x", targets: []Target{{Type: strings.Repeat("t", 16)}}},
		"NUL in params":  {name: "x", targets: []Target{{Type: "linear", Params: []byte("a\x00b")}}},
		"no target type": {name: "x", targets: []Target{{Params: []byte("p")}}},
	} {
		if _, err := req.encode(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestDecodeReply(t *testing.T) {
	buf := make([]byte, headerSize)
	binary.LittleEndian.PutUint64(buf[40:], unix.Mkdev(253, 3))
	binary.LittleEndian.PutUint32(buf[28:], flagBufferFull)
	r := decodeReply(buf)
	if unix.Major(r.dev) != 253 || unix.Minor(r.dev) != 3 || r.flags != flagBufferFull {
		t.Errorf("reply %+v", r)
	}
}

func TestParams(t *testing.T) {
	key := []byte{0xde, 0xad, 0xbe, 0xef}
	if got := CryptParams(testCipher, key, "/dev/vda2", 2048); string(got) != "aes-xts-plain64 deadbeef 0 /dev/vda2 2048" {
		t.Errorf("CryptParams = %q", got)
	}
	if got := LinearParams("/dev/vda2", 2048); string(got) != "/dev/vda2 2048" {
		t.Errorf("LinearParams = %q", got)
	}
	s := Target{Length: 8, Type: "crypt", Params: CryptParams(testCipher, key, "/dev/x", 0)}.String()
	if strings.Contains(s, "deadbeef") {
		t.Errorf("Target.String shows the key: %s", s)
	}
}

// TestClearZeroesTheKeyHex: the table's params are the only copy of the hex key this
// package makes outside the ioctl buffer (zeroed in Create), and Clear wipes them.
func TestClearZeroesTheKeyHex(t *testing.T) {
	table := []Target{
		{Type: "crypt", Params: CryptParams(testCipher, []byte{0xde, 0xad, 0xbe, 0xef}, "/dev/x", 0)},
		{Type: "linear", Params: LinearParams("/dev/y", 8)},
	}
	Clear(table)
	for _, target := range table {
		if len(target.Params) == 0 || bytes.Count(target.Params, []byte{0}) != len(target.Params) {
			t.Errorf("%s params after Clear: %q", target.Type, target.Params)
		}
	}
}

const testCipher = "aes-xts-plain64"

func TestControlMinor(t *testing.T) {
	path := filepath.Join(t.TempDir(), "misc")
	os.WriteFile(path, []byte("237 loop-control\n236 device-mapper\n200 tun\n"), 0o644)
	if minor, err := controlMinor(path); err != nil || minor != 236 {
		t.Errorf("controlMinor = %d, %v", minor, err)
	}
	os.WriteFile(path, []byte("237 loop-control\n"), 0o644)
	if _, err := controlMinor(path); err == nil || !strings.Contains(err.Error(), "CONFIG_BLK_DEV_DM") {
		t.Errorf("missing device-mapper: %v", err)
	}
}

func TestEnsureBlockNode(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (mknod)")
	}
	path := filepath.Join(t.TempDir(), "node")
	os.WriteFile(path, []byte("stale file"), 0o644)
	for _, dev := range []uint64{unix.Mkdev(7, 0), unix.Mkdev(7, 0), unix.Mkdev(7, 1)} {
		if err := ensureBlockNode(path, dev); err != nil {
			t.Fatal(err)
		}
		var st unix.Stat_t
		if err := unix.Stat(path, &st); err != nil {
			t.Fatal(err)
		}
		if st.Mode&unix.S_IFMT != unix.S_IFBLK || st.Rdev != dev {
			t.Errorf("node mode %o rdev %#x, want block %#x", st.Mode, st.Rdev, dev)
		}
	}
}
