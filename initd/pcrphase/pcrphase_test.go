package pcrphase

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

func TestExtendCommandLayout(t *testing.T) {
	cmd, err := extendCommand(11, []string{"sha256"}, []byte("ready"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte("ready"))
	want := []byte{0x80, 0x02, 0, 0, 0, 0, 0, 0, 0x01, 0x82, // tag, size (patched), PCR_Extend
		0, 0, 0, 11, // PCR handle
		0, 0, 0, 9, 0x40, 0, 0, 9, 0, 0, 0, 0, 0, // password session, empty
		0, 0, 0, 1, 0, 0x0B} // one digest, SHA-256
	want = append(want, sum[:]...)
	binary.BigEndian.PutUint32(want[2:], uint32(len(want)))
	if !bytes.Equal(cmd, want) {
		t.Errorf("command\n got %x\nwant %x", cmd, want)
	}
	if _, err := extendCommand(11, []string{"md5"}, nil); err == nil {
		t.Error("unknown bank accepted")
	}
}

func TestResponseCode(t *testing.T) {
	ok := []byte{0x80, 0x01, 0, 0, 0, 10, 0, 0, 0, 0}
	if err := readResponse(bytes.NewReader(ok), "tpm"); err != nil {
		t.Errorf("success: %v", err)
	}
	bad := []byte{0x80, 0x01, 0, 0, 0, 10, 0, 0, 0x09, 0x22}
	if err := readResponse(bytes.NewReader(bad), "tpm"); err == nil {
		t.Error("error response accepted")
	}
}

func TestBanksAndRead(t *testing.T) {
	sys := t.TempDir()
	for bank, v := range map[string]string{"sha256": "AB12\n", "sha384": "CD34\n", "sm3": "x"} {
		os.MkdirAll(filepath.Join(sys, "pcr-"+bank), 0o755)
		os.WriteFile(filepath.Join(sys, "pcr-"+bank, "11"), []byte(v), 0o644)
	}
	if got := Banks(sys); len(got) != 2 || got[0] != "sha256" || got[1] != "sha384" {
		t.Errorf("Banks = %v", got)
	}
	if got := Read(sys); got["sha256"] != "ab12" || got["sha384"] != "cd34" {
		t.Errorf("Read = %v", got)
	}
	if err := Extend("/nonexistent", nil, "ready"); err != ErrNoTPM {
		t.Errorf("no banks: %v", err)
	}
}

func TestReadPCRs(t *testing.T) {
	sys := t.TempDir()
	os.MkdirAll(filepath.Join(sys, "pcr-sha256"), 0o755)
	os.WriteFile(filepath.Join(sys, "pcr-sha256", "7"), []byte("0A0B\n"), 0o644)
	got := ReadPCRs(sys, "sha256", []int{0, 7})
	if len(got) != 1 || !bytes.Equal(got[7], []byte{0x0a, 0x0b}) {
		t.Errorf("ReadPCRs = %v", got)
	}
}

// The TPM must be driven through a blocking descriptor (see OpenDevice).
func TestOpenDeviceIsBlocking(t *testing.T) {
	f, err := OpenDevice("/dev/ptmx") // pollable like a TPM, so os.OpenFile would make it non-blocking
	if err != nil {
		t.Skipf("no /dev/ptmx: %v", err)
	}
	defer f.Close()
	// Not f.Fd(): it would switch the descriptor to blocking mode itself.
	raw, err := f.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var flags int
	raw.Control(func(fd uintptr) { flags, err = unix.FcntlInt(fd, unix.F_GETFL, 0) })
	if err != nil {
		t.Fatal(err)
	}
	if flags&unix.O_NONBLOCK != 0 {
		t.Error("OpenDevice returned a non-blocking descriptor")
	}
}
