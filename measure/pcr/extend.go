package pcr

import (
	"crypto"
	"errors"
	"fmt"
)

// Errors returned by this package, wrapped with the value at fault.
var (
	ErrBank   = errors.New("pcr: unsupported PCR bank")
	ErrIndex  = errors.New("pcr: PCR index out of range")
	ErrValue  = errors.New("pcr: PCR value has the wrong size")
	ErrPolicy = errors.New("pcr: invalid policy input")
	ErrKey    = errors.New("pcr: unsupported public key")
)

// Banks are the PCR banks this package knows, in TPM algorithm ID order.
var Banks = []crypto.Hash{crypto.SHA1, crypto.SHA256, crypto.SHA384, crypto.SHA512}

// algIDs are the TPM_ALG_ID of each bank (TPM 2.0 Part 2, table 9).
var algIDs = map[crypto.Hash]uint16{
	crypto.SHA1:   0x0004,
	crypto.SHA256: 0x000B,
	crypto.SHA384: 0x000C,
	crypto.SHA512: 0x000D,
}

// AlgID returns the TPM_ALG_ID of bank.
func AlgID(bank crypto.Hash) (uint16, error) {
	id, ok := algIDs[bank]
	if !ok {
		return 0, fmt.Errorf("%w: %v", ErrBank, bank)
	}
	return id, nil
}

// Zero returns the value of a PCR of bank after reset: all zero bytes.
// (PCRs 17 to 22 reset to all ones on a dynamic launch; Kiln does not use them.)
func Zero(bank crypto.Hash) []byte {
	return make([]byte, bank.Size())
}

// Extend returns the new value of a PCR of bank holding pcr after it is
// extended with the measurement of data: H(pcr || H(data)). This is what
// TPM2_PCR_Event does, and what systemd-stub and systemd-pcrphase do through
// the firmware's HashLogExtendEvent. bank must be available (see Banks).
func Extend(bank crypto.Hash, pcr []byte, data []byte) []byte {
	return ExtendDigest(bank, pcr, digest(bank, data))
}

// ExtendDigest returns H(pcr || d): TPM2_PCR_Extend with a digest that is
// already computed, as for an event log entry.
func ExtendDigest(bank crypto.Hash, pcr []byte, d []byte) []byte {
	h := bank.New()
	h.Write(pcr)
	h.Write(d)
	return h.Sum(nil)
}

// Replay returns the value of a PCR of bank that was reset to zero and then
// extended with each of events in order (see Extend).
func Replay(bank crypto.Hash, events ...[]byte) []byte {
	value := Zero(bank)
	for _, data := range events {
		value = Extend(bank, value, data)
	}
	return value
}

func digest(alg crypto.Hash, data []byte) []byte {
	h := alg.New()
	h.Write(data)
	return h.Sum(nil)
}
