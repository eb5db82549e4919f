package oracle

import (
	"net"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Swtpm starts a fresh software TPM 2.0 for the test (already started up, so raw commands
// work at once) and returns the path of its command socket; the control socket is that path
// plus ".ctrl". It is stopped when the test ends.
func Swtpm(t testing.TB) string {
	t.Helper()
	Require(t, "swtpm", "swtpm")
	dir := t.TempDir()
	sock := filepath.Join(dir, "sock")
	cmd := exec.Command("swtpm", "socket", "--tpm2", "--tpmstate", "dir="+dir,
		"--server", "type=unixio,path="+sock, "--ctrl", "type=unixio,path="+sock+".ctrl",
		"--flags", "not-need-init,startup-clear")
	if err := cmd.Start(); err != nil {
		t.Fatalf("swtpm: %v", err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	// Ready once both sockets answer: swtpm binds a socket before it listens on it, so a
	// socket file alone can still refuse a connection (it did, under load).
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if answers(sock+".ctrl") && answers(sock) {
			return sock
		}
	}
	t.Fatal("swtpm did not open its sockets within 10s")
	return ""
}

func answers(sock string) bool {
	conn, err := net.Dial("unix", sock)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}
