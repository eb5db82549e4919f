package storage

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/kiln-os/kiln/initd/storage/stateheader"
)

// TestPlainHeaderRefusedWithTPM is the disk swap: someone with the disk of a machine
// whose STATE is sealed writes a plain header (and their own config behind it). With a
// TPM that could seal, a plain header is refused untouched and unmapped, and the error
// says how to start over.
func TestPlainHeaderRefusedWithTPM(t *testing.T) {
	r := newRig(t, stateSize)
	first, err := r.state().Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	area, err := stateheader.Marshal(stateheader.Header{Mode: stateheader.ModePlain, DataOffset: stateheader.DataOffset, UUID: [16]byte{7}})
	if err != nil {
		t.Fatal(err)
	}
	r.patch(0, area)
	before, created := r.digest(), len(r.mapper.created)
	_, err = r.state().Open(ctx)
	if err == nil {
		t.Fatalf("plain header on a TPM machine opened (sealed STATE %s was replaced)", first.UUID)
	}
	for _, want := range []string{"not touched", "plain", "TPM", "kilnctl reset --wipe-state", "re-flash"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	if r.digest() != before || len(r.mapper.created) != created {
		t.Error("the refused STATE was written or mapped")
	}
}

// TestPlainHeaderTPMProbeErrorStops: a TPM that is there but fails its probe is not
// taken for "no TPM", which would let a plain header through.
func TestPlainHeaderTPMProbeErrorStops(t *testing.T) {
	r := newRig(t, stateSize)
	r.sealer.noTPM = true
	if _, err := r.state().Open(ctx); err != nil {
		t.Fatal(err)
	}
	r.sealer.noTPM = false
	r.sealer.probeErr = errors.New("TPM_RC_FAILURE")
	if _, err := r.state().Open(ctx); err == nil || !strings.Contains(err.Error(), "TPM_RC_FAILURE") || len(r.mapper.created) != 1 {
		t.Fatalf("plain header with a failing TPM probe: %v (mapped %d times)", err, len(r.mapper.created))
	}
}

// TestForeignCipherIsNotMapped forges a sealed header whose cipher is cipher_null (the
// data in clear under any key), with valid checksums in both copies: Open refuses it
// before unsealing, and nothing is mapped.
func TestForeignCipherIsNotMapped(t *testing.T) {
	r := newRig(t, stateSize)
	if _, err := r.state().Open(ctx); err != nil {
		t.Fatal(err)
	}
	r.forgeCipher("cipher_null-ecb")
	unseals, created := r.sealer.unseals, len(r.mapper.created)
	_, err := r.state().Open(ctx)
	if err == nil || !strings.Contains(err.Error(), stateheader.CipherXTS) {
		t.Fatalf("cipher_null header: %v", err)
	}
	if r.sealer.unseals != unseals || len(r.mapper.created) != created {
		t.Error("a header with a foreign cipher was unsealed or mapped")
	}
}

// forgeCipher rewrites the cipher field of both header copies and their checksums, as
// anyone with the disk can.
func (r *rig) forgeCipher(cipher string) {
	area := make([]byte, stateheader.AreaSize)
	f := r.open()
	defer f.Close()
	if _, err := f.ReadAt(area, 0); err != nil {
		r.t.Fatal(err)
	}
	for _, off := range []int{0, stateheader.CopySize} {
		slot := area[off : off+stateheader.CopySize]
		field := slot[40:104]
		clear(field)
		copy(field, cipher)
		end := 104 + int(binary.LittleEndian.Uint32(slot[12:]))
		sum := sha256.Sum256(slot[:end])
		copy(slot[end:], sum[:])
	}
	r.patch(0, area)
}
