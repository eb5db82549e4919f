package machineapi

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kiln-os/kiln/api/machine"
	"github.com/kiln-os/kiln/initd/tpmquote"
	"github.com/kiln-os/kiln/internal/tpmsim"
	verify "github.com/kiln-os/kiln/measure/attest"
)

// simReader is a PCRReader over the TPM simulator: PCR_Read for values, initd/tpmquote for
// quotes. With extendBeforeQuote > 0 it extends PCR 11 before that many quotes, as
// machined's ready phase may between PCRRead's read and its quote.
type simReader struct {
	tpm transport.TPM

	mu                sync.Mutex
	extendBeforeQuote int
	quotes            int
}

func newSimReader(t *testing.T) *simReader {
	t.Helper()
	return &simReader{tpm: tpmsim.Open(t)}
}

func (r *simReader) Banks() []string           { return []string{"sha256"} }
func (r *simReader) EventLog() ([]byte, error) { return []byte("log"), nil }

func (r *simReader) Read(bank string, index uint32) ([]byte, error) {
	sel, err := verify.Selection(bank, []uint32{index})
	if err != nil {
		return nil, err
	}
	rsp, err := tpm2.PCRRead{PCRSelectionIn: sel}.Execute(r.tpm)
	if err != nil {
		return nil, err
	}
	if len(rsp.PCRValues.Digests) != 1 {
		return nil, errors.New("PCR_Read returned no value")
	}
	return rsp.PCRValues.Digests[0].Buffer, nil
}

func (r *simReader) Quote(nonce []byte, bank string, pcrs []uint32) (attest, signature, akPublic []byte, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.quotes++
	if r.extendBeforeQuote > 0 {
		r.extendBeforeQuote--
		_, err := tpm2.PCREvent{
			PCRHandle: tpm2.AuthHandle{Handle: 11, Auth: tpm2.PasswordAuth(nil)},
			EventData: tpm2.TPM2BEvent{Buffer: []byte("ready")},
		}.Execute(r.tpm)
		if err != nil {
			return nil, nil, nil, err
		}
	}
	return tpmquote.Quote(r.tpm, nonce, bank, pcrs)
}

func TestPCRReadQuotes(t *testing.T) {
	tpm := newSimReader(t)
	tpm.extendBeforeQuote = 1 // the first answer is stale and must be retried
	c := start(t, &Server{TPM: tpm})
	nonce := []byte("0123456789abcdef")
	resp, err := c.PCRRead(context.Background(), &machine.PCRReadRequest{Pcrs: []uint32{7, 11}, Nonce: nonce})
	if err != nil {
		t.Fatalf("PCRRead: %v", err)
	}
	if len(resp.Banks) != 1 || resp.Banks[0].Bank != "sha256" || string(resp.EventLog) != "log" {
		t.Fatalf("PCRRead = %v", resp)
	}
	if _, err := verify.Verify(resp.AkPublic, resp.Quote, resp.QuoteSignature, nonce, "sha256", resp.Banks[0].Values); err != nil {
		t.Errorf("Verify: %v", err)
	}
	if tpm.quotes != 2 {
		t.Errorf("quoted %d times, want 2 (one retry after the extend)", tpm.quotes)
	}
}

func TestPCRReadGivesUpOnPCRsThatKeepMoving(t *testing.T) {
	tpm := newSimReader(t)
	tpm.extendBeforeQuote = quoteAttempts
	c := start(t, &Server{TPM: tpm})
	_, err := c.PCRRead(context.Background(), &machine.PCRReadRequest{Pcrs: []uint32{11}, Nonce: []byte("n")})
	if status.Code(err) != codes.Internal || tpm.quotes != quoteAttempts {
		t.Errorf("PCRRead = %v after %d quotes, want Internal after %d", err, tpm.quotes, quoteAttempts)
	}
}

func TestPCRReadRejectsALongNonce(t *testing.T) {
	c := start(t, &Server{TPM: newSimReader(t)})
	_, err := c.PCRRead(context.Background(), &machine.PCRReadRequest{Nonce: make([]byte, 65)})
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("65-byte nonce: %v", err)
	}
}

func TestPCRReadQuoteWithoutDevice(t *testing.T) {
	dir := sysfsWithPCRs(t)
	c := start(t, &Server{TPM: SysfsTPM{Dir: dir, Device: filepath.Join(dir, "tpmrm0")}})
	_, err := c.PCRRead(context.Background(), &machine.PCRReadRequest{Pcrs: []uint32{7}, Nonce: []byte("n")})
	if status.Code(err) != codes.FailedPrecondition {
		t.Errorf("quote without /dev/tpmrm0: %v", err)
	}
}

// sysfsWithPCRs is a sysfs TPM directory with a sha256 bank of zero PCRs.
func sysfsWithPCRs(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "pcr-sha256"), 0o755); err != nil {
		t.Fatal(err)
	}
	for i := 0; i <= maxPCR; i++ {
		zero := strings.Repeat("00", 32) + "\n"
		if err := os.WriteFile(filepath.Join(dir, "pcr-sha256", strconv.Itoa(i)), []byte(zero), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
