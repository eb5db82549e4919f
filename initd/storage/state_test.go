package storage

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/kiln-os/kiln/initd/mount"
	"github.com/kiln-os/kiln/initd/storage/ext4"
	"github.com/kiln-os/kiln/initd/storage/stateheader"
)

const stateSize = 40 << 20

var ctx = context.Background()

func TestCreateThenReopen(t *testing.T) {
	r := newRig(t, stateSize)
	first, err := r.state().Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !first.Created || first.Mode != "sealed" || first.Unencrypted || first.UUID == "" {
		t.Fatalf("first open: %+v", first)
	}
	table := r.mapper.created[0]
	if len(table) != 1 || table[0].Type != "crypt" || table[0].Length != stateSize/512-2048 ||
		!strings.HasPrefix(string(table[0].Params), "aes-xts-plain64 ") || !strings.HasSuffix(string(table[0].Params), " 0 "+r.device+" 2048") {
		t.Errorf("table %v", table)
	}
	checkMapped(t, r.mapper.dir+"/KILN-STATE-"+first.UUID)
	want := mount.Mount{Source: r.mapper.dir + "/KILN-STATE-" + first.UUID, Target: "/system/state", FSType: "ext4", Flags: mount.NoSuidDevExec}
	if len(r.mounts.done) != 1 || r.mounts.done[0] != want {
		t.Errorf("mounts %v, want %v", r.mounts.done, want)
	}

	before := r.digest()
	second, err := r.state().Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if second.Created || second.UUID != first.UUID || second.Mode != "sealed" || r.sealer.unseals != 1 {
		t.Errorf("second open: %+v (unseals %d)", second, r.sealer.unseals)
	}
	if !bytes.Equal(r.mapper.created[1][0].Params, table[0].Params) {
		t.Error("reopen mapped with a different key than the one STATE was made with")
	}
	if r.digest() != before {
		t.Error("reopening a healthy STATE wrote to the partition")
	}
}

func checkMapped(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sb, err := ext4.ReadSuperblock(f)
	if err != nil || sb.Label != "STATE" {
		t.Errorf("mapped device: %+v, %v; want ext4 labelled STATE", sb, err)
	}
}

func TestNoTPMRunsPlainUnlessRequired(t *testing.T) {
	r := newRig(t, stateSize)
	r.sealer.noTPM = true
	s := r.state()
	s.RequireTPM = true
	if _, err := s.Open(ctx); err == nil || !strings.Contains(err.Error(), "requires one") {
		t.Fatalf("RequireTPM without a TPM: %v", err)
	}
	if len(r.mapper.created) != 0 || !headerAreaZero(t, r.device) {
		t.Fatal("a refused STATE was mapped or written")
	}
	res, err := r.state().Open(ctx)
	if err != nil || !res.Created || res.Mode != "plain" || !res.Unencrypted {
		t.Fatalf("plain create: %+v, %v", res, err)
	}
	if tbl := r.mapper.created[0][0]; tbl.Type != "linear" || string(tbl.Params) != r.device+" 2048" {
		t.Errorf("plain table %v", tbl)
	}
	if res, err := r.state().Open(ctx); err != nil || res.Created || !res.Unencrypted {
		t.Errorf("plain reopen: %+v, %v", res, err)
	}
	before := r.digest()
	s = r.state()
	s.RequireTPM = true
	if _, err := s.Open(ctx); err == nil || !strings.Contains(err.Error(), "not touched") || r.digest() != before {
		t.Errorf("plain STATE with RequireTPM: %v", err)
	}
}

func headerAreaZero(t *testing.T, device string) bool {
	f, _ := os.Open(device)
	defer f.Close()
	_, _, err := stateheader.Read(f)
	return errors.Is(err, stateheader.ErrUnformatted)
}

func TestUnsealFailureTouchesNothing(t *testing.T) {
	r := newRig(t, stateSize)
	if _, err := r.state().Open(ctx); err != nil {
		t.Fatal(err)
	}
	before := r.digest()
	r.sealer.unsealErr = errors.New("TPM_RC_POLICY_FAIL")
	_, err := r.state().Open(ctx)
	if err == nil || !strings.Contains(err.Error(), "was not touched") || !strings.Contains(err.Error(), "TPM_RC_POLICY_FAIL") {
		t.Fatalf("unseal failure: %v", err)
	}
	if r.digest() != before || len(r.mapper.created) != 1 {
		t.Error("STATE was written or mapped after the key did not unseal")
	}
	noSealer := r.state()
	noSealer.Sealer = nil
	if _, err := noSealer.Open(ctx); !errors.Is(err, ErrNoTPM) || r.digest() != before {
		t.Errorf("sealed STATE without a sealer: %v", err)
	}
}

// TestCorruptHeaderNeverFormats puts damage in both copies, or a stray byte elsewhere
// in the header area, and checks Open refuses without sealing, mapping or writing.
func TestCorruptHeaderNeverFormats(t *testing.T) {
	for name, damage := range map[string]func(r *rig){
		"stray byte": func(r *rig) { r.patch(700<<10, []byte{1}) },
		"both copies": func(r *rig) {
			r.state().Open(ctx)
			r.patch(20, []byte{0xff})
			r.patch(stateheader.CopySize+20, []byte{0xff})
		},
	} {
		t.Run(name, func(t *testing.T) {
			r := newRig(t, stateSize)
			damage(r)
			before, created := r.digest(), len(r.mapper.created)
			_, err := r.state().Open(ctx)
			if !errors.Is(err, stateheader.ErrCorrupt) || !strings.Contains(err.Error(), "will not be formatted") {
				t.Fatalf("corrupt header: %v", err)
			}
			if r.digest() != before || len(r.mapper.created) != created {
				t.Error("corrupt STATE was written or mapped")
			}
		})
	}
}

func TestTornCopyIsRepaired(t *testing.T) {
	r := newRig(t, stateSize)
	if _, err := r.state().Open(ctx); err != nil {
		t.Fatal(err)
	}
	r.patch(stateheader.CopySize+30, make([]byte, 200)) // copy 1 torn
	res, err := r.state().Open(ctx)
	if err != nil || res.Repaired != 1 {
		t.Fatalf("open with a torn copy: %+v, %v", res, err)
	}
	f, _ := os.Open(r.device)
	defer f.Close()
	if _, damaged, err := stateheader.Read(f); err != nil || len(damaged) != 0 {
		t.Errorf("after repair: damaged %v, %v", damaged, err)
	}
}

// A format that fails before the header is written leaves STATE blank, and the next
// boot formats it from the start.
func TestFailedFormatLeavesStateBlank(t *testing.T) {
	r := newRig(t, stateSize)
	r.mapper.unusable = true
	if _, err := r.state().Open(ctx); err == nil || r.mapper.removed != 1 {
		t.Fatalf("format of an unusable mapped device: %v (removed %d)", err, r.mapper.removed)
	}
	if !headerAreaZero(t, r.device) {
		t.Fatal("header written although the filesystem was not made")
	}
	r.mapper.unusable = false
	if res, err := r.state().Open(ctx); err != nil || !res.Created {
		t.Errorf("retry: %+v, %v", res, err)
	}
}

func TestHeaderWithoutFilesystemIsNotFormatted(t *testing.T) {
	r := newRig(t, stateSize)
	first, err := r.state().Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mapped := r.mapper.dir + "/KILN-STATE-" + first.UUID
	os.Truncate(mapped, 0) // data area lost: the fake maps it as zeroes again
	_, err = r.state().Open(ctx)
	if err == nil || !strings.Contains(err.Error(), "no ext4 filesystem") || r.mapper.removed != 1 {
		t.Fatalf("header without filesystem: %v (removed %d)", err, r.mapper.removed)
	}
	if f, _ := os.Open(mapped); f != nil {
		defer f.Close()
		if _, err := ext4.ReadSuperblock(f); !errors.Is(err, ext4.ErrNotExt4) {
			t.Error("the data area was formatted again")
		}
	}
}

func TestTooSmall(t *testing.T) {
	r := newRig(t, 4<<20)
	if _, err := r.state().Open(ctx); err == nil || !strings.Contains(err.Error(), "needs at least") {
		t.Errorf("4 MiB STATE: %v", err)
	}
}
