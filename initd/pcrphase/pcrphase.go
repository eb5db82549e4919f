// Package pcrphase extends PCR 11 with Kiln's boot phase words (measure/pcr: "enter-initrd",
// "leave-initrd", "sysinit", "ready"), as systemd-pcrphase does, so that the PCR 11 value of each
// phase is what the build predicted (uki/pcrsig) and a secret sealed to one phase cannot be
// unsealed in a later one.
//
// It speaks the one TPM 2.0 command it needs, TPM2_PCR_Extend (TPM 2.0 Library Part 3,
// 22.2), over the kernel's resource manager /dev/tpmrm0, with an empty password session,
// and reads PCR values back from sysfs (/sys/class/tpm/tpm0/pcr-<bank>/<n>, Linux 5.12+).
// It is node-side and writes nothing but the TPM.
package pcrphase

import (
	"crypto"
	_ "crypto/sha1" // the TPM's SHA-1 bank is extended too, so no bank goes stale
	_ "crypto/sha256"
	_ "crypto/sha512"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// PCR is the index systemd-stub and Kiln measure the boot into.
const PCR = 11

// Default paths of the first TPM.
const (
	Device = "/dev/tpmrm0"
	Sysfs  = "/sys/class/tpm/tpm0"
)

// TPM 2.0 constants (Part 2).
const (
	tagSessions    = 0x8002
	ccPCRExtend    = 0x00000182
	rsPW           = 0x40000009
	algSHA1        = 0x0004
	algSHA256      = 0x000B
	algSHA384      = 0x000C
	algSHA512      = 0x000D
	responseHeader = 10
)

// ErrNoTPM is returned when the machine has no TPM 2.0 the kernel exposes.
var ErrNoTPM = errors.New("pcrphase: no TPM")

var banks = map[string]struct {
	hash crypto.Hash
	alg  uint16
}{
	"sha1": {crypto.SHA1, algSHA1}, "sha256": {crypto.SHA256, algSHA256},
	"sha384": {crypto.SHA384, algSHA384}, "sha512": {crypto.SHA512, algSHA512},
}

// Banks lists the PCR banks the kernel exports for the TPM in sysfs, sorted.
func Banks(sysfs string) []string {
	dirs, _ := filepath.Glob(filepath.Join(sysfs, "pcr-*"))
	var out []string
	for _, d := range dirs {
		name := strings.TrimPrefix(filepath.Base(d), "pcr-")
		if _, ok := banks[name]; ok {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// Extend measures word into PCR 11 of every bank in bankNames, in one TPM2_PCR_Extend.
func Extend(dev string, bankNames []string, word string) error {
	if len(bankNames) == 0 {
		return ErrNoTPM
	}
	cmd, err := extendCommand(PCR, bankNames, []byte(word))
	if err != nil {
		return err
	}
	f, err := OpenDevice(dev)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNoTPM, err)
	}
	defer f.Close()
	if _, err := f.Write(cmd); err != nil {
		return fmt.Errorf("pcrphase: send PCR_Extend to %s: %w", dev, err)
	}
	return readResponse(f, dev)
}

// OpenDevice opens a TPM character device in blocking mode. os.OpenFile would hand the
// descriptor to Go's poller, which makes it O_NONBLOCK; the kernel then runs each command
// asynchronously, and a read that comes before the response returns 0 bytes
// (drivers/char/tpm/tpm-dev-common.c, tpm_common_read), which reads as EOF. A blocking
// descriptor makes write run the command to completion.
func OpenDevice(path string) (*os.File, error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// extendCommand builds TPM2_PCR_Extend: header, PCR handle, a password session with
// empty auth, then TPML_DIGEST_VALUES with the word's digest in each bank.
func extendCommand(pcr uint32, bankNames []string, data []byte) ([]byte, error) {
	body := binary.BigEndian.AppendUint32(nil, pcr)
	body = binary.BigEndian.AppendUint32(body, 9) // authorizationSize
	body = binary.BigEndian.AppendUint32(body, rsPW)
	body = append(body, 0, 0, 0, 0, 0) // nonce size, attributes, hmac size
	body = binary.BigEndian.AppendUint32(body, uint32(len(bankNames)))
	for _, name := range bankNames {
		b, ok := banks[name]
		if !ok {
			return nil, fmt.Errorf("pcrphase: unknown PCR bank %q", name)
		}
		h := b.hash.New()
		h.Write(data)
		body = binary.BigEndian.AppendUint16(body, b.alg)
		body = h.Sum(body)
	}
	cmd := binary.BigEndian.AppendUint16(nil, tagSessions)
	cmd = binary.BigEndian.AppendUint32(cmd, uint32(responseHeader+len(body)))
	cmd = binary.BigEndian.AppendUint32(cmd, ccPCRExtend)
	return append(cmd, body...), nil
}

func readResponse(r io.Reader, dev string) error {
	resp := make([]byte, 4096)
	n, err := r.Read(resp)
	if err != nil {
		return fmt.Errorf("pcrphase: read PCR_Extend response from %s: %w", dev, err)
	}
	if n < responseHeader {
		return fmt.Errorf("pcrphase: short response (%d bytes) from %s", n, dev)
	}
	if rc := binary.BigEndian.Uint32(resp[6:10]); rc != 0 {
		return fmt.Errorf("pcrphase: TPM2_PCR_Extend failed: response code 0x%x", rc)
	}
	return nil
}

// Read returns PCR 11 of each bank as lower-case hex, from sysfs.
func Read(sysfs string) map[string]string {
	out := map[string]string{}
	for _, bank := range Banks(sysfs) {
		value, err := os.ReadFile(filepath.Join(sysfs, "pcr-"+bank, fmt.Sprint(PCR)))
		if err == nil {
			out[bank] = strings.ToLower(strings.TrimSpace(string(value)))
		}
	}
	return out
}

// ReadPCRs returns the given PCRs of one bank from sysfs, decoded; unreadable ones are left out.
func ReadPCRs(sysfs, bank string, pcrs []int) map[int][]byte {
	out := map[int][]byte{}
	for _, n := range pcrs {
		value, err := os.ReadFile(filepath.Join(sysfs, "pcr-"+bank, fmt.Sprint(n)))
		if err != nil {
			continue
		}
		if b, err := hex.DecodeString(strings.TrimSpace(string(value))); err == nil {
			out[n] = b
		}
	}
	return out
}
