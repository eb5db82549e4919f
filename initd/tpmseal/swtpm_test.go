package tpmseal

// Oracle test: the same round trip on swtpm (libtpms), the software TPM the QEMU harness
// gives Kiln, so the package does not depend on quirks of one TPM implementation.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/kiln-os/kiln/internal/oracle"
	"github.com/kiln-os/kiln/internal/tpmsim"
)

// streamTPM sends TPM commands over swtpm's command socket, one response per command.
type streamTPM struct{ conn net.Conn }

func (s streamTPM) Send(command []byte) ([]byte, error) {
	if _, err := s.conn.Write(command); err != nil {
		return nil, err
	}
	header := make([]byte, 10)
	if _, err := io.ReadFull(s.conn, header); err != nil {
		return nil, err
	}
	size := binary.BigEndian.Uint32(header[2:6])
	if size < 10 || size > 1<<16 {
		return nil, fmt.Errorf("swtpm: response of %d bytes", size)
	}
	rest := make([]byte, size-10)
	if _, err := io.ReadFull(s.conn, rest); err != nil {
		return nil, err
	}
	return append(header, rest...), nil
}

func TestSwtpmSealUnseal(t *testing.T) {
	conn, err := net.Dial("unix", oracle.Swtpm(t))
	if err != nil {
		t.Fatalf("swtpm: %v", err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(60 * time.Second))
	tpm := &simTPM{&tpmsim.TPM{TPM: streamTPM{conn}}} // swtpm over a socket: no simulator to reset
	key, _ := testKeys(t)
	tpm.extend(t, pcrSecureBoot, "SecureBoot=1")
	tpm.extend(t, PCR, bootWords...)
	pcr7, err := ReadPCR(tpm, pcrSecureBoot)
	if err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	blob := seal(t, tpm, key, pcr7)
	sealed := time.Since(start)
	start = time.Now()
	got, err := unseal(t, tpm, blob, signedUKI(t, key, bootWords...))
	t.Logf("swtpm: Seal %v, Unseal %v", sealed, time.Since(start))
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("Unseal = %q, %v", got, err)
	}
	tpm.extend(t, PCR, "ready")
	if _, err := unseal(t, tpm, blob, signedUKI(t, key, bootWords...)); !errors.Is(err, ErrNotSigned) {
		t.Errorf("Unseal after ready: err = %v, want %v", err, ErrNotSigned)
	}
}

// Issue 12, hole 2, on swtpm: with Secure Boot off (PCR 7 differs), a pre-boot program
// replays the UKI's published measurements into PCR 11 in software. A key sealed without
// PCR 7 (the old default) unseals; a key bound to PCR 7 does not, and the TPM itself, not
// only this package's early check, refuses.
func TestSwtpmForgedPCR11UnderOtherPCR7(t *testing.T) {
	conn, err := net.Dial("unix", oracle.Swtpm(t))
	if err != nil {
		t.Fatalf("swtpm: %v", err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(60 * time.Second))
	tpm := &simTPM{&tpmsim.TPM{TPM: streamTPM{conn}}}
	key, _ := testKeys(t)
	// Sealed on the genuine boot: Secure Boot on, PCR 11 not yet needed for sealing.
	tpm.extend(t, pcrSecureBoot, "SecureBoot=1", "db kiln")
	genuinePCR7, err := ReadPCR(tpm, pcrSecureBoot)
	if err != nil {
		t.Fatal(err)
	}
	bound := seal(t, tpm, key, genuinePCR7)
	unbound := seal(t, tpm, key, nil)

	// The attacker's boot: PCR 7 now says something else, and PCR 11 is forged to the
	// signed value by replaying the published words.
	tpm.extend(t, pcrSecureBoot, "SecureBoot=0")
	tpm.extend(t, PCR, bootWords...)
	u := signedUKI(t, key, bootWords...)
	if got, err := unseal(t, tpm, unbound, u); err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("the attack no longer reproduces: a key sealed without PCR 7 = %q, %v", got, err)
	}
	if got, err := unseal(t, tpm, bound, u); !errors.Is(err, ErrPCR7Mismatch) {
		t.Errorf("forged PCR 11 under another PCR 7: %q, %v; want %v", got, err, ErrPCR7Mismatch)
	}
	if got, err := unsealSkippingPCR7Check(t, tpm, bound, u); err == nil {
		t.Errorf("the TPM released a PCR 7-bound key under another PCR 7: %q", got)
	}
}
