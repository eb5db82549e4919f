package storage

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/kiln-os/kiln/initd/storage/ext4"
	"github.com/kiln-os/kiln/initd/storage/stateheader"
)

// open maps and mounts a formatted STATE. Nothing is written to the partition unless
// the key unsealed and one header copy needs repair.
func (s *State) open(ctx context.Context, dev *os.File, size int64, h stateheader.Header, damaged []error) (Result, error) {
	key, err := s.unsealedKey(h)
	if err != nil {
		return Result{}, err
	}
	defer clear(key)
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	repaired := s.repairHeader(dev, h, damaged)
	mapped, err := s.mapState(h, key, size)
	if err != nil {
		return Result{}, err
	}
	if err := s.mountFormatted(mapped); err != nil {
		return Result{}, errors.Join(err, s.mapper.Remove(s.MapperName))
	}
	s.Log.WithField("mode", h.Mode).WithField("uuid", h.UUIDString()).Info("STATE mounted")
	return Result{Mode: h.Mode.String(), UUID: h.UUIDString(), Unencrypted: h.Mode == stateheader.ModePlain, Repaired: repaired}, nil
}

// unsealedKey returns the key for h (nil in plain mode). Errors say STATE was not
// touched and what the operator can do.
func (s *State) unsealedKey(h stateheader.Header) ([]byte, error) {
	if h.Mode == stateheader.ModePlain {
		return nil, s.allowPlain()
	}
	if s.Sealer == nil {
		return nil, fmt.Errorf("STATE %s was not touched: its key is sealed to a TPM and none is available (%w); "+
			"boot with the machine's TPM enabled", s.Device, ErrNoTPM)
	}
	key, err := s.Sealer.Unseal(h.SealedKey)
	if err != nil {
		return nil, fmt.Errorf("STATE %s was not touched: the TPM did not unseal its key (%w); this happens when the booted UKI is not signed "+
			"with the PCR key STATE was sealed to, or the TPM was cleared; boot a signed Kiln UKI, or reset the node to start with an empty STATE", s.Device, err)
	}
	if len(key) != KeySize {
		clear(key)
		return nil, fmt.Errorf("STATE %s was not touched: the unsealed key is %d bytes, want %d", s.Device, len(key), KeySize)
	}
	return key, nil
}

// allowPlain decides whether a plain (unencrypted) header may be opened. Only a boot
// that could not seal makes one (see sealedHeader), so on a boot that could, a plain
// header was not made by this machine: someone with the disk swapped it in, with a
// config of their own behind it.
func (s *State) allowPlain() error {
	if s.RequireTPM {
		return fmt.Errorf("STATE %s was not touched: it was made unencrypted (no TPM at the time) but the configuration now requires a TPM; "+
			"%s", s.Device, resetHint)
	}
	switch err := s.probe(); {
	case err == nil:
		return fmt.Errorf("STATE %s was not touched: its header says plain (unencrypted), but this machine has a TPM that seals STATE's key, "+
			"and a plain STATE is only made without one: the disk was altered, or the TPM was enabled after STATE was made. %s", s.Device, resetHint)
	case !errors.Is(err, ErrNoTPM):
		return fmt.Errorf("STATE %s was not touched: its header says plain (unencrypted), and the TPM did not answer whether it can seal (%w); "+
			"check the TPM in the firmware settings", s.Device, err)
	}
	s.Log.Warn("STATE is UNENCRYPTED (plain mode: it was made without a TPM)")
	return nil
}

// resetHint is how an operator starts over with an empty STATE sealed to this TPM. A
// boot that stops in Storage serves no API, so the running-node route is the second.
const resetHint = "To start over with an empty STATE, re-flash the disk (or install again with wipe); " +
	"a node that still runs can be reset from maintenance mode or the API with kilnctl reset --wipe-state"

func (s *State) probe() error {
	if s.Sealer == nil {
		return ErrNoTPM
	}
	return s.Sealer.Probe()
}

// repairHeader rewrites both header copies from the verified one when a copy is damaged
// (a torn write). A failed repair is logged, not fatal: the good copy still opens STATE.
func (s *State) repairHeader(dev *os.File, h stateheader.Header, damaged []error) int {
	if len(damaged) == 0 {
		return 0
	}
	log := s.Log.WithField("damaged", errors.Join(damaged...).Error())
	if err := stateheader.Write(dev, h); err != nil {
		log.WithError(err).Warn("STATE header copy damaged; repair failed, the good copy is still used")
		return 0
	}
	log.Warn("STATE header copy damaged; rewritten from the good copy")
	return len(damaged)
}

// mountFormatted mounts the mapped STATE after checking it holds ext4: a mapped device
// without it is never formatted here (the key or the data is not what it should be).
func (s *State) mountFormatted(mapped string) error {
	f, err := os.Open(mapped)
	if err != nil {
		return err
	}
	_, err = ext4.ReadSuperblock(f)
	f.Close()
	if errors.Is(err, ext4.ErrNotExt4) {
		return fmt.Errorf("STATE %s has a valid header but no ext4 filesystem behind it; it was not formatted again. "+
			"The data area is damaged or the unsealed key is not the one it was written with: reset the node to start over", s.Device)
	}
	if err != nil {
		return err
	}
	return s.mount(s.stateMount(mapped))
}
