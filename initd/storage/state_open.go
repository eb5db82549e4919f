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
	mapped, err := s.mapper.Create(s.MapperName, dmUUID(h), s.table(h, key, size))
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
		if s.RequireTPM {
			return nil, fmt.Errorf("STATE %s was not touched: it was made unencrypted (no TPM at the time) but the configuration now requires a TPM; "+
				"reset the node to re-create STATE sealed to the TPM", s.Device)
		}
		s.Log.Warn("STATE is UNENCRYPTED (plain mode: it was made without a TPM)")
		return nil, nil
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
