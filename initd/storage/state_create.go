package storage

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"

	"github.com/kiln-os/kiln/initd/storage/ext4"
	"github.com/kiln-os/kiln/initd/storage/stateheader"
)

// create formats a blank STATE: key, seal, map, mkfs, then the header (the commit
// record, see the package doc), then mount.
func (s *State) create(ctx context.Context, dev *os.File, size int64) (Result, error) {
	key := make([]byte, KeySize)
	defer clear(key)
	if _, err := rand.Read(key); err != nil {
		return Result{}, err
	}
	h, err := s.sealedHeader(key)
	if err != nil {
		return Result{}, err
	}
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	s.Log.WithField("mode", h.Mode).WithField("uuid", h.UUIDString()).Info("STATE is blank: formatting")
	mapped, err := s.mapState(h, key, size)
	if err != nil {
		return Result{}, err
	}
	if err := s.formatAndCommit(dev, mapped, h, size); err != nil {
		return Result{}, errors.Join(err, s.mapper.Remove(s.MapperName))
	}
	if err := s.mount(s.stateMount(mapped)); err != nil {
		return Result{}, errors.Join(err, s.mapper.Remove(s.MapperName))
	}
	return Result{Created: true, Mode: h.Mode.String(), UUID: h.UUIDString(), Unencrypted: h.Mode == stateheader.ModePlain}, nil
}

// sealedHeader seals key and returns the header to write; without a TPM it returns a
// plain-mode header unless a TPM is required.
func (s *State) sealedHeader(key []byte) (stateheader.Header, error) {
	uuid, err := newUUID()
	if err != nil {
		return stateheader.Header{}, err
	}
	h := stateheader.Header{DataOffset: stateheader.DataOffset, UUID: uuid}
	blob, err := s.seal(key)
	switch {
	case errors.Is(err, ErrNoTPM) && s.RequireTPM:
		return h, fmt.Errorf("STATE %s is blank and this machine has no usable TPM, but the configuration requires one: "+
			"enable the TPM in the firmware, or allow unencrypted STATE: %w", s.Device, err)
	case errors.Is(err, ErrNoTPM):
		s.Log.Warn("no TPM: STATE will be UNENCRYPTED (plain mode)")
		h.Mode = stateheader.ModePlain
		return h, nil
	case err != nil:
		return h, fmt.Errorf("seal the new STATE key (STATE %s not written): %w", s.Device, err)
	}
	h.Mode, h.Cipher, h.SealedKey = stateheader.ModeSealed, stateheader.CipherXTS, blob
	return h, nil
}

func (s *State) seal(key []byte) ([]byte, error) {
	if s.Sealer == nil {
		return nil, ErrNoTPM
	}
	return s.Sealer.Seal(key)
}

func (s *State) formatAndCommit(dev *os.File, mapped string, h stateheader.Header, size int64) error {
	fsSize := int64(dataSectors(size, h)) * stateheader.SectorSize
	if err := ext4.Format(mapped, fsSize, stateLabel); err != nil {
		return err
	}
	if err := stateheader.Write(dev, h); err != nil {
		return fmt.Errorf("STATE %s: %w", s.Device, err)
	}
	return nil
}
