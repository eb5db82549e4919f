package eventlog

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"hash"
	"slices"
)

// startupLocalitySignature opens the data of the EV_NO_ACTION event that
// records the locality of TPM2_Startup (TCG_EfiStartupLocalityEvent).
var startupLocalitySignature = []byte("StartupLocality\x00")

// newHash returns the hash constructor for a TPM algorithm ID, or nil.
func newHash(alg uint16) func() hash.Hash {
	switch alg {
	case AlgSHA1:
		return sha1.New
	case AlgSHA256:
		return sha256.New
	case AlgSHA384:
		return sha512.New384
	case AlgSHA512:
		return sha512.New
	}
	return nil
}

// Mismatch is a PCR whose replayed value differs from the TPM's. A nil
// value means that side has no entry for the PCR.
type Mismatch struct {
	PCR      int
	Replayed []byte
	Actual   []byte
}

// Replay computes the value of each PCR in pcrs in bank alg by extending,
// from the reset value, every event's digest for that bank. Each PCR starts
// at digestSize zero bytes, except that a StartupLocality event seen before
// the first extension of PCR 0 sets PCR 0's last byte to the locality.
// EV_NO_ACTION events are never extended. An event without a digest of
// digestSize bytes for alg is skipped, so it surfaces as a mismatch rather
// than a guess. Replay returns nil if alg is not a hash it knows or
// digestSize is not that hash's size.
func Replay(events []Event, alg uint16, digestSize int, pcrs []int) map[int][]byte {
	newH := newHash(alg)
	if newH == nil || newH().Size() != digestSize {
		return nil
	}
	values := make(map[int][]byte, len(pcrs))
	for _, pcr := range pcrs {
		values[pcr] = make([]byte, digestSize)
	}
	extended0 := false
	for _, ev := range events {
		if ev.Type == EvNoAction {
			if locality, ok := startupLocality(ev); ok && !extended0 {
				if v, want := values[0]; want {
					v[digestSize-1] = locality
				}
			}
			continue
		}
		digest := ev.Digests[alg]
		// No TPM has 2^16 PCRs; the bound keeps int(ev.Index) exact on 32-bit.
		if len(digest) != digestSize || ev.Index > 1<<16 {
			continue
		}
		if ev.Index == 0 {
			extended0 = true
		}
		if v, want := values[int(ev.Index)]; want {
			values[int(ev.Index)] = extend(newH(), v, digest)
		}
	}
	return values
}

// startupLocality returns the locality recorded by a StartupLocality event.
func startupLocality(ev Event) (byte, bool) {
	n := len(startupLocalitySignature)
	if ev.Index != 0 || len(ev.Data) != n+1 || !bytes.Equal(ev.Data[:n], startupLocalitySignature) {
		return 0, false
	}
	return ev.Data[n], true
}

// extend returns H(value || digest), the TPM2_PCR_Extend of one bank.
func extend(h hash.Hash, value, digest []byte) []byte {
	h.Write(value)
	h.Write(digest)
	return h.Sum(nil)
}

// Compare returns, in PCR order, every PCR present in either map whose
// values differ, including PCRs that only one side has.
func Compare(replayed map[int][]byte, actual map[int][]byte) []Mismatch {
	pcrs := make([]int, 0, len(replayed)+len(actual))
	for pcr := range replayed {
		pcrs = append(pcrs, pcr)
	}
	for pcr := range actual {
		if _, ok := replayed[pcr]; !ok {
			pcrs = append(pcrs, pcr)
		}
	}
	slices.Sort(pcrs)
	var mismatches []Mismatch
	for _, pcr := range pcrs {
		r, hasR := replayed[pcr]
		a, hasA := actual[pcr]
		if hasR && hasA && bytes.Equal(r, a) {
			continue
		}
		mismatches = append(mismatches, Mismatch{PCR: pcr, Replayed: r, Actual: a})
	}
	return mismatches
}
