package configstate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/kiln-os/kiln/config"
	"github.com/kiln-os/kiln/initd/resources"
	"github.com/kiln-os/kiln/internal/testpki"
)

// padded is a valid config grown past size bytes with a YAML comment: it decodes, so
// only a size check made before decoding can refuse it.
func padded(t *testing.T, size int) []byte {
	t.Helper()
	data := testpki.Encode(t, testpki.ControlPlaneConfig(t))
	return append(data, []byte("# "+strings.Repeat("x", size-len(data))+"\n")...)
}

// Attack (issue 12, hole 8): a config over the limit sent through the API, on a running
// node and in maintenance mode, was decoded and accepted.
func TestApplyRefusesAnOversizedConfigBeforeDecoding(t *testing.T) {
	big := padded(t, 4<<20)
	for _, maintenance := range []bool{false, true} {
		a, _ := applier(t, maintenance)
		go a.Handoff.Await(t.Context(), a.StateDir, func(error) {})
		_, err := a.Apply(t.Context(), Request{Data: big, Mode: ModeReboot})
		if !errors.Is(err, config.ErrTooLarge) || !strings.Contains(fmt.Sprint(err), "1048576") {
			t.Errorf("maintenance %v: 4 MiB config: err = %v, want config.ErrTooLarge naming the limit", maintenance, err)
		}
		if _, err := os.Stat(Path(a.StateDir)); err == nil {
			t.Errorf("maintenance %v: the oversized config reached STATE", maintenance)
		}
	}
}

// Every boot-time source has the same limit: STATE, fw_cfg (and the URL, in fetchOnce).
func TestFindRefusesAnOversizedConfig(t *testing.T) {
	big := padded(t, config.MaxSize+1)
	onState := Sources{StateDir: t.TempDir(), FwCfg: "/nonexistent"}
	if err := os.WriteFile(Path(onState.StateDir), big, 0o600); err != nil {
		t.Fatal(err)
	}
	fwcfg := Sources{StateDir: t.TempDir(), FwCfg: Path(onState.StateDir)}
	for name, src := range map[string]Sources{"STATE": onState, "fw_cfg": fwcfg} {
		if _, err := Find(t.Context(), src); err == nil || !strings.Contains(fmt.Sprint(err), "1048576") {
			t.Errorf("%s: oversized config: err = %v, want the limit named", name, err)
		}
	}
}

// Attack (issue 12, hole 8): two applies at once could persist one config and publish
// the other. Whatever the interleaving, STATE and the published resource must agree; the
// loser of a race is told it was busy.
func TestConcurrentAppliesPersistWhatTheyPublish(t *testing.T) {
	cfg := testpki.ControlPlaneConfig(t)
	for round := range 100 {
		a, _ := applier(t, false)
		a.Reboot = func(string) {} // the helper's list is not for concurrent use
		var wg sync.WaitGroup
		for i := range 2 {
			next := *cfg
			next.Machine.Network.Hostname = fmt.Sprintf("node-%d-%d", round, i)
			data := testpki.Encode(t, &next)
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := a.Apply(context.Background(), Request{Data: data, Mode: ModeReboot}); err != nil && !errors.Is(err, ErrBusy) {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		checkPersistedIsPublished(t, a.StateDir, a.Store)
		if t.Failed() {
			return
		}
	}
}

func checkPersistedIsPublished(t *testing.T, stateDir string, store *resources.Store) {
	t.Helper()
	onState, err := config.Load(Path(stateDir))
	if err != nil {
		t.Fatal(err)
	}
	persisted, _ := config.Encode(onState)
	published, _ := config.Encode(Current(store).Config)
	if !bytes.Equal(persisted, published) {
		t.Errorf("STATE holds hostname %q, the published config %q", onState.Machine.Network.Hostname, Current(store).Config.Machine.Network.Hostname)
	}
}

// While an apply runs, another is refused with ErrBusy and changes nothing; a dry run,
// which changes nothing either, still answers.
func TestApplyWhileAnotherRunsIsBusy(t *testing.T) {
	a, _ := applier(t, false)
	data := testpki.Encode(t, testpki.ControlPlaneConfig(t))
	a.applying.Lock() // an apply in progress
	defer a.applying.Unlock()
	if _, err := a.Apply(t.Context(), Request{Data: data, Mode: ModeReboot}); !errors.Is(err, ErrBusy) {
		t.Errorf("apply during another: %v, want ErrBusy", err)
	}
	if _, err := os.Stat(Path(a.StateDir)); err == nil {
		t.Error("the refused apply wrote STATE")
	}
	if res, err := a.Apply(t.Context(), Request{Data: data, DryRun: true}); err != nil || res.Applied != AppliedDryRun {
		t.Errorf("dry run during an apply: %+v, %v", res, err)
	}
}
