package storage

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/kiln-os/kiln/initd/mount"
	"github.com/kiln-os/kiln/initd/storage/dm"
)

// fakeSealer "seals" by XOR with 0x5a behind a prefix, so a blob is recognisably sealed.
type fakeSealer struct {
	noTPM     bool
	probeErr  error // a TPM that is there but does not answer
	unsealErr error
	unseals   int
	keys      [][]byte // every key Seal was given or Unseal returned, as the caller holds it
}

func (f *fakeSealer) Probe() error {
	if f.noTPM {
		return ErrNoTPM
	}
	return f.probeErr
}

func (f *fakeSealer) Seal(key []byte) ([]byte, error) {
	if f.noTPM {
		return nil, ErrNoTPM
	}
	f.keys = append(f.keys, key)
	return append([]byte("sealed:"), xor(key)...), nil
}

func (f *fakeSealer) Unseal(blob []byte) ([]byte, error) {
	f.unseals++
	if f.unsealErr != nil {
		return nil, f.unsealErr
	}
	rest, ok := bytes.CutPrefix(blob, []byte("sealed:"))
	if !ok {
		return nil, errors.New("fake: not a sealed blob")
	}
	key := xor(rest)
	f.keys = append(f.keys, key)
	return key, nil
}

func xor(b []byte) []byte {
	out := make([]byte, len(b))
	for i, c := range b {
		out[i] = c ^ 0x5a
	}
	return out
}

// fakeMapper "maps" each device UUID to a file of the table's length in dir, so data
// survives across Opens the way a real mapping of the same key would.
type fakeMapper struct {
	dir     string
	created [][]dm.Target // copies of the tables, as they were when handed over
	handed  [][]dm.Target // the tables themselves, to see what the caller leaves in them
	removed int
	fail    error
	// unusable makes Create return a directory, so formatting the mapped device fails.
	unusable bool
}

func (f *fakeMapper) Create(name, uuid string, targets []dm.Target) (string, error) {
	if f.fail != nil {
		return "", f.fail
	}
	f.created = append(f.created, copyTable(targets))
	f.handed = append(f.handed, targets)
	if f.unusable {
		return f.dir, nil
	}
	path := filepath.Join(f.dir, uuid)
	file, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return "", err
	}
	defer file.Close()
	if fi, _ := file.Stat(); fi.Size() == 0 {
		file.Truncate(int64(targets[0].Length) * 512)
	}
	return path, nil
}

func copyTable(table []dm.Target) []dm.Target {
	out := append([]dm.Target(nil), table...)
	for i := range out {
		out[i].Params = bytes.Clone(out[i].Params)
	}
	return out
}

func (f *fakeMapper) Remove(string) error { f.removed++; return nil }

type fakeMounts struct{ done []mount.Mount }

func (f *fakeMounts) mount(m mount.Mount) error { f.done = append(f.done, m); return nil }

// rig is one fake machine: a file-backed STATE partition and the fakes around it.
type rig struct {
	t      *testing.T
	device string
	sealer *fakeSealer
	mapper *fakeMapper
	mounts *fakeMounts
}

func newRig(t *testing.T, size int64) *rig {
	dir := t.TempDir()
	device := filepath.Join(dir, "state.img")
	if err := os.WriteFile(device, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	os.Truncate(device, size)
	mapDir := filepath.Join(dir, "mapped")
	os.Mkdir(mapDir, 0o755)
	return &rig{t: t, device: device, sealer: &fakeSealer{}, mapper: &fakeMapper{dir: mapDir}, mounts: &fakeMounts{}}
}

func (r *rig) state() *State {
	return &State{Device: r.device, Sealer: r.sealer, MapperName: "kiln-state", Mountpoint: "/system/state",
		mapper: r.mapper, mount: r.mounts.mount}
}

func (r *rig) digest() [32]byte {
	data, err := os.ReadFile(r.device)
	if err != nil {
		r.t.Fatal(err)
	}
	return sha256.Sum256(data)
}

func (r *rig) patch(off int64, b []byte) {
	f, err := os.OpenFile(r.device, os.O_RDWR, 0)
	if err != nil {
		r.t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rig) open() *os.File {
	f, err := os.Open(r.device)
	if err != nil {
		r.t.Fatal(err)
	}
	return f
}
