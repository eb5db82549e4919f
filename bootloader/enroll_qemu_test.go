package bootloader

// The firmware oracle: OVMF (Debian 12's edk2 2022.11) with Secure Boot in
// setup mode boots our ESP; systemd-boot 252 enrols loader/keys/auto/ and
// resets. Then the firmware must run our db-signed systemd-boot and refuse
// an unsigned one.

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kiln-os/kiln/bootloader/keys"
	"github.com/kiln-os/kiln/internal/oracle"
)

const (
	ovmfCode = "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd"
	ovmfVars = "/usr/share/OVMF/OVMF_VARS_4M.fd" // no keys: setup mode
)

func TestOracleOVMFEnrolment(t *testing.T) {
	if testing.Short() {
		t.Skip("boots OVMF three times under TCG (~20 s)")
	}
	requireTools(t, "qemu-system-x86_64", "sbsign")
	oracle.RequireFile(t, ovmfCode, "ovmf")
	oracle.RequireFile(t, ovmfVars, "ovmf")
	oracle.RequireFile(t, SystemdBootSource, "systemd-boot-efi")
	set, keysDir := testKeys(t)
	unsigned, err := os.ReadFile(SystemdBootSource)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := SignSystemdBoot(unsigned, set.DB, sbsign(t, keysDir))
	if err != nil {
		t.Fatal(err)
	}
	files, err := ESP{SystemdBoot: signed, Keys: set, Owner: OwnerGUID, Timestamp: testEpoch}.Files()
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	esp := filepath.Join(work, "esp")
	writeTree(t, esp, files)
	vars := filepath.Join(work, "vars.fd")
	copyFile(t, ovmfVars, vars)

	// Boot 1: systemd-boot enrols db, KEK, PK and resets (-no-reboot: QEMU exits).
	serial, exited := bootOVMF(t, "enrol", vars, esp, nil, 120*time.Second)
	if !exited || !strings.Contains(serial, "Enrolling secure boot keys") || strings.Contains(serial, "Failed to write") {
		t.Fatalf("enrolment boot (exited %v):\n%s", exited, printable(serial))
	}
	store, err := os.ReadFile(vars)
	if err != nil {
		t.Fatal(err)
	}
	for _, role := range keys.CertRoles {
		p, _ := set.Pair(role)
		if !bytes.Contains(store, p.Cert.Raw) {
			t.Errorf("the firmware's variable store does not hold the %s certificate: the write was refused", role)
		}
	}

	// Boots 2 and 3, in parallel from copies of the enrolled store: the signed
	// systemd-boot runs (and, out of setup mode, enrols nothing), the unsigned
	// one is refused.
	espUnsigned := filepath.Join(work, "esp-unsigned")
	writeTree(t, espUnsigned, files)
	for _, p := range []string{BootX64Path, SystemdBootPath} {
		os.WriteFile(filepath.Join(espUnsigned, p), unsigned, 0o644)
	}
	var wg sync.WaitGroup
	results := make([]string, 2)
	for i, c := range []struct{ name, esp, marker string }{
		{"signed", esp, "Reboot Into Firmware Interface"},
		{"unsigned", espUnsigned, "Access Denied"},
	} {
		v := filepath.Join(work, c.name+".fd")
		copyFile(t, vars, v)
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], _ = bootOVMF(t, c.name, v, c.esp, []string{c.marker}, 90*time.Second)
		}()
	}
	wg.Wait()
	if s := results[0]; !strings.Contains(s, "Reboot Into Firmware Interface") || strings.Contains(s, "Enrolling") || strings.Contains(s, "Access Denied") {
		t.Errorf("db-signed systemd-boot did not run under Secure Boot:\n%s", printable(s))
	}
	if s := results[1]; !strings.Contains(s, `failed to load Boot0001 "UEFI Misc Device"`) || !strings.Contains(s, "Access Denied") {
		t.Errorf("unsigned systemd-boot was not refused:\n%s", printable(s))
	}
}

// bootOVMF boots esp (as a read-only FAT disk) on OVMF with Secure Boot and
// the variable store vars, and returns the serial output once QEMU exits, a
// marker appears, or the timeout passes; exited reports that QEMU exited by
// itself (-no-reboot: the guest reset). The serial log is kept next to vars.
// -cpu qemu64 reports a hypervisor, so systemd-boot 252 skips its 15 s
// enrolment countdown (with -cpu max under TCG it does not).
func bootOVMF(t *testing.T, name, vars, esp string, markers []string, timeout time.Duration) (serial string, exited bool) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	args := []string{
		"-machine", "q35,smm=on", "-accel", "tcg", "-cpu", "qemu64", "-m", "256",
		"-nodefaults", "-no-user-config", "-display", "none",
		"-global", "driver=cfi.pflash01,property=secure,value=on", "-global", "ICH9-LPC.disable_s3=1",
		"-drive", "if=pflash,format=raw,unit=0,readonly=on,file=" + ovmfCode,
		"-drive", "if=pflash,format=raw,unit=1,file=" + vars,
		"-drive", "file=fat:" + esp + ",format=raw,if=virtio,readonly=on",
		"-serial", "stdio", "-no-reboot",
	}
	cmd := exec.CommandContext(ctx, "qemu-system-x86_64", args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	chunk := make([]byte, 4096)
	for {
		n, readErr := out.Read(chunk)
		buf.Write(chunk[:n])
		if containsAny(buf.String(), markers) {
			cancel()
			break
		}
		if readErr != nil { // io.EOF: QEMU exited
			break
		}
	}
	waitErr := cmd.Wait()
	exited = ctx.Err() == nil && waitErr == nil
	if err := os.WriteFile(filepath.Join(filepath.Dir(vars), name+"-serial.log"), buf.Bytes(), 0o644); err != nil {
		t.Log(err)
	}
	if stderr.Len() > 0 {
		t.Logf("%s: qemu stderr: %s", name, stderr.String())
	}
	return buf.String(), exited
}

func containsAny(s string, markers []string) bool {
	for _, m := range markers {
		if strings.Contains(s, m) {
			return true
		}
	}
	return false
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// printable drops the console's escape sequences from serial output.
func printable(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == 0x1b {
			for i < len(s) && !(s[i] >= 'A' && s[i] <= 'Z' || s[i] >= 'a' && s[i] <= 'z') {
				i++
			}
			continue
		}
		if s[i] == '\n' || s[i] >= 0x20 && s[i] < 0x7f {
			b.WriteByte(s[i])
		}
	}
	return b.String()
}
