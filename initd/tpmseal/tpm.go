package tpmseal

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"github.com/kiln-os/kiln/initd/pcrphase"
)

// Device is the kernel's TPM resource manager: it swaps objects in and out, so this
// package may load what it needs without caring what else runs.
const Device = "/dev/tpmrm0"

// PCR is the register systemd-stub measures the UKI into and machined's phases extend.
const PCR = 11

// pcrSecureBoot is PCR 7, the Secure Boot policy (TCG PC Client Platform Firmware Profile).
const pcrSecureBoot = 7

// Errors returned by this package, wrapped with the detail at fault.
var (
	ErrNoTPM        = errors.New("tpmseal: no TPM")
	ErrSignature    = errors.New("tpmseal: invalid PCR signature (.pcrsig)")
	ErrPublicKey    = errors.New("tpmseal: invalid PCR public key (.pcrpkey)")
	ErrBlob         = errors.New("tpmseal: invalid sealed blob")
	ErrSecret       = errors.New("tpmseal: invalid secret")
	ErrPolicy       = errors.New("tpmseal: invalid policy")
	ErrKeyMismatch  = errors.New("tpmseal: the blob is sealed to another PCR key")
	ErrNotSigned    = errors.New("tpmseal: the UKI's signed policy does not match the PCR 11 value of this boot")
	ErrPCR7Mismatch = errors.New("tpmseal: PCR 7 (Secure Boot state) changed since sealing")
)

// Open opens the TPM at path (normally Device). A missing device, or a path that is not
// one, is ErrNoTPM. The descriptor is blocking (pcrphase.OpenDevice says why go-tpm's own
// linuxtpm.Open, through Go's poller, can read a response before it exists).
func Open(path string) (transport.TPMCloser, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %w", ErrNoTPM, err)
	}
	if err != nil {
		return nil, fmt.Errorf("tpmseal: %w", err)
	}
	if fi.Mode()&os.ModeDevice == 0 {
		return nil, fmt.Errorf("%w: %s is not a device (%s)", ErrNoTPM, path, fi.Mode())
	}
	f, err := pcrphase.OpenDevice(path)
	if err != nil {
		return nil, fmt.Errorf("tpmseal: %w", err)
	}
	return transport.FromReadWriteCloser(f), nil
}

// tpmError names the TPM command that failed; err carries the response code
// (tpm2.TPMRC prints as TPM_RC_..., and errors.Is matches it).
func tpmError(command string, err error) error {
	return fmt.Errorf("tpmseal: %s: %w", command, err)
}

// transients collects the transient handles (objects, sessions) an operation created so
// that they are flushed on every path: a TPM holds only a few, and without a resource
// manager a leaked one stays until reboot.
type transients struct {
	tpm     transport.TPM
	handles []tpm2.TPMHandle
}

func (t *transients) add(h tpm2.TPMHandle) { t.handles = append(t.handles, h) }

// flush flushes every handle, newest first, and reports all failures.
func (t *transients) flush() error {
	var errs []error
	for _, h := range slices.Backward(t.handles) {
		if _, err := (tpm2.FlushContext{FlushHandle: h}).Execute(t.tpm); err != nil {
			errs = append(errs, tpmError(fmt.Sprintf("FlushContext(%#x)", uint32(h)), err))
		}
	}
	t.handles = nil
	return errors.Join(errs...)
}

// joinFlush flushes tr and adds its failures to err.
func joinFlush(err error, tr *transients) error {
	return errors.Join(err, tr.flush())
}
