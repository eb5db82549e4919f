package storage

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/sirupsen/logrus"

	"github.com/kiln-os/kiln/initd/mount"
	"github.com/kiln-os/kiln/initd/storage/dm"
	"github.com/kiln-os/kiln/initd/storage/ext4"
	"github.com/kiln-os/kiln/initd/storage/partition"
	"github.com/kiln-os/kiln/initd/storage/stateheader"
	"github.com/kiln-os/kiln/pipeline/disk/layout"
)

// KeySealer seals STATE's key to this machine's TPM and unseals it again. The blob is
// opaque to this package; it is stored in the STATE header.
type KeySealer interface {
	Seal(key []byte) (blob []byte, err error)
	Unseal(blob []byte) ([]byte, error)
	// Probe says whether Seal would seal on this boot without sealing anything: nil
	// when it would, an error wrapping ErrNoTPM when it returns ErrNoTPM (STATE may
	// then be plain), any other error when the TPM is there but does not answer.
	Probe() error
}

// ErrNoTPM is what a KeySealer returns (wrapped or not) when the machine has no TPM.
var ErrNoTPM = errors.New("storage: no TPM")

// KeySize is the dm-crypt key for aes-xts-plain64 with two AES-256 keys.
const KeySize = 64

// stateLabel is the ext4 label inside STATE.
const stateLabel = layout.LabelState

// State opens the STATE partition. Inputs are exported; the zero value of the unexported
// seams uses the kernel.
type State struct {
	Device     string    // the STATE partition, e.g. from partition.Find
	Sealer     KeySealer // nil behaves like a sealer that returns ErrNoTPM
	MapperName string    // device-mapper name, e.g. "kiln-state"
	Mountpoint string    // e.g. /system/state
	RequireTPM bool      // refuse plain mode
	Log        logrus.FieldLogger

	mapper mapper
	mount  func(mount.Mount) error
}

// Result says what Open found and did.
type Result struct {
	Created     bool   // STATE was blank and has been formatted
	Mode        string // "sealed" or "plain"
	UUID        string // of the STATE header
	Unencrypted bool   // plain mode on a machine without a TPM: warn the operator
	Repaired    int    // header copies rewritten from the good one
}

// mapper is device-mapper as State uses it; tests substitute it.
type mapper interface {
	Create(name, uuid string, targets []dm.Target) (string, error)
	Remove(name string) error
}

type kernelMapper struct{}

func (kernelMapper) Create(name, uuid string, t []dm.Target) (string, error) {
	return dm.Create(name, uuid, t)
}
func (kernelMapper) Remove(name string) error { return dm.Remove(name) }

// Open maps and mounts STATE, formatting it first only when its header area is blank.
func (s *State) Open(ctx context.Context) (Result, error) {
	s.defaults()
	size, err := partition.Size(s.Device)
	if err != nil {
		return Result{}, err
	}
	if size < stateheader.AreaSize+ext4.MinSize {
		return Result{}, fmt.Errorf("STATE %s is %d bytes; it needs at least %d", s.Device, size, stateheader.AreaSize+ext4.MinSize)
	}
	dev, err := os.OpenFile(s.Device, os.O_RDWR, 0)
	if err != nil {
		return Result{}, err
	}
	defer dev.Close()
	h, damaged, err := stateheader.Read(dev)
	switch {
	case errors.Is(err, stateheader.ErrUnformatted):
		return s.create(ctx, dev, size)
	case err != nil:
		return Result{}, fmt.Errorf("STATE %s was not touched: its header does not verify, so it is not blank and will not be formatted (%w); "+
			"restore the partition, or wipe its first MiB deliberately to start over with an empty STATE", s.Device, err)
	}
	return s.open(ctx, dev, size, h, damaged)
}

func (s *State) defaults() {
	if s.Log == nil {
		l := logrus.New()
		l.Out = io.Discard
		s.Log = l
	}
	if s.mapper == nil {
		s.mapper = kernelMapper{}
	}
	if s.mount == nil {
		s.mount = mount.Mount.Do
	}
}

// dataSectors is the length of the data area behind the 1 MiB header area.
func dataSectors(partitionSize int64, h stateheader.Header) uint64 {
	return uint64(partitionSize)/stateheader.SectorSize - h.DataOffset
}

// table is the device-mapper table for h: crypt with key, or linear.
func (s *State) table(h stateheader.Header, key []byte, partitionSize int64) []dm.Target {
	length := dataSectors(partitionSize, h)
	if h.Mode == stateheader.ModePlain {
		return []dm.Target{{Length: length, Type: "linear", Params: dm.LinearParams(s.Device, h.DataOffset)}}
	}
	return []dm.Target{{Length: length, Type: "crypt", Params: dm.CryptParams(h.Cipher, key, s.Device, h.DataOffset)}}
}

// mapState maps STATE with the table for h and key, then wipes the table: for a crypt
// target it holds the key in hex, and the kernel keeps its own copy.
func (s *State) mapState(h stateheader.Header, key []byte, partitionSize int64) (string, error) {
	table := s.table(h, key, partitionSize)
	defer dm.Clear(table)
	return s.mapper.Create(s.MapperName, dmUUID(h), table)
}

func (s *State) stateMount(source string) mount.Mount {
	return mount.Mount{Source: source, Target: s.Mountpoint, FSType: "ext4", Flags: mount.NoSuidDevExec}
}

func newUUID() ([16]byte, error) {
	var u [16]byte
	if _, err := rand.Read(u[:]); err != nil {
		return u, err
	}
	u[6] = u[6]&0x0f | 0x40 // RFC 9562 version 4
	u[8] = u[8]&0x3f | 0x80 // variant 10
	return u, nil
}

func dmUUID(h stateheader.Header) string { return "KILN-STATE-" + h.UUIDString() }
