package dm

import (
	"bytes"
	"crypto/rand"
	"os"
	"testing"

	"github.com/kiln-os/kiln/initd/storage/internal/looptest"
)

// requireDM skips unless device-mapper can be driven from this process.
func requireDM(t *testing.T) {
	t.Helper()
	looptest.RequireRoot(t)
	if _, err := os.Stat(ControlPath); err == nil {
		return
	}
	if _, err := controlMinor(procMisc); err != nil {
		t.Skipf("no /dev/mapper/control and %v", err)
	}
}

// TestCryptRoundTrip maps a crypt target over a loop device at a 1 MiB offset, writes
// through it, checks the plaintext is not on the disk, removes the device, maps it
// again with the same key and reads the data back.
func TestCryptRoundTrip(t *testing.T) {
	requireDM(t)
	loop := looptest.Attach(t, looptest.SparseFile(t, "crypt.img", 9<<20))
	key := make([]byte, 64)
	rand.Read(key)
	table := []Target{{Length: 8 << 20 / 512, Type: "crypt", Params: CryptParams("aes-xts-plain64", key, loop, 2048)}}
	name := "kiln-dmtest-crypt"
	path, err := Create(name, "KILN-TEST-"+name, table)
	if err != nil {
		t.Fatal(err)
	}
	plaintext := bytes.Repeat([]byte("kiln state "), 4096)
	writeAt(t, path, plaintext, 4096)
	if err := Remove(name); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(loop)
	if bytes.Contains(raw, []byte("kiln state kiln state")) {
		t.Fatal("plaintext found on the raw device")
	}
	path, err = Create(name, "KILN-TEST-"+name, table)
	if err != nil {
		t.Fatal(err)
	}
	defer Remove(name)
	if got := readAt(t, path, len(plaintext), 4096); !bytes.Equal(got, plaintext) {
		t.Fatal("data read back through a fresh mapping differs")
	}
}

func TestLinearAndFailedCreateLeavesNothing(t *testing.T) {
	requireDM(t)
	loop := looptest.Attach(t, looptest.SparseFile(t, "linear.img", 4<<20))
	name := "kiln-dmtest-linear"
	bad := []Target{{Length: 1 << 40, Type: "linear", Params: LinearParams(loop, 2048)}}
	if _, err := Create(name, "", bad); err == nil {
		Remove(name)
		t.Fatal("a table larger than the device was accepted")
	}
	path, err := Create(name, "", []Target{{Length: 2048, Type: "linear", Params: LinearParams(loop, 2048)}})
	if err != nil {
		t.Fatalf("create after a failed create of the same name: %v", err)
	}
	defer Remove(name)
	writeAt(t, path, []byte("linear"), 0)
	raw := readAt(t, loop, 6, 2048*512)
	if string(raw) != "linear" {
		t.Errorf("raw device at 1 MiB has %q", raw)
	}
}

func writeAt(t *testing.T, path string, data []byte, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(data, off); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
}

func readAt(t *testing.T, path string, n int, off int64) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, n)
	if _, err := f.ReadAt(buf, off); err != nil {
		t.Fatal(err)
	}
	return buf
}
