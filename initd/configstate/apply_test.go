package configstate

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kiln-os/kiln/config"
	"github.com/kiln-os/kiln/initd/events"
	"github.com/kiln-os/kiln/initd/resources"
	"github.com/kiln-os/kiln/internal/testpki"
)

func applier(t *testing.T, maintenance bool) (*Applier, *[]string) {
	t.Helper()
	var reboots []string
	a := &Applier{Store: resources.New(resources.Config{}), Emit: func(events.Event) {}, StateDir: t.TempDir(),
		Maintenance: func() bool { return maintenance }, Handoff: NewHandoff(),
		Reboot: func(why string) { reboots = append(reboots, why) }, LiveWait: 50 * time.Millisecond}
	return a, &reboots
}

// In maintenance mode Apply answers only once the config is on STATE; an invalid config
// never reaches LoadConfig, and with nobody waiting a second one is refused as busy.
func TestApplyInMaintenancePersistsFirst(t *testing.T) {
	a, _ := applier(t, true)
	go func() {
		a.Handoff.Await(context.Background(), a.StateDir, func(err error) { t.Error(err) })
	}()
	ctx := context.Background()
	if _, err := a.Apply(ctx, Request{Data: []byte("version: v1alpha1\nmachine: {tpye: x}\n")}); !errors.Is(err, config.ErrInvalid) {
		t.Fatalf("invalid config: %v", err)
	}
	data := testpki.Encode(t, testpki.ControlPlaneConfig(t))
	res, err := a.Apply(ctx, Request{Data: data})
	if err != nil || res.Applied != AppliedLive {
		t.Fatalf("apply = %+v, %v", res, err)
	}
	if _, err := config.Load(Path(a.StateDir)); err != nil {
		t.Errorf("config not on STATE when the call returned: %v", err)
	}
	if _, err := a.Apply(ctx, Request{Data: data}); !errors.Is(err, ErrBusy) {
		t.Errorf("second apply with nobody waiting: %v", err)
	}
}

// On a running node: a dry run diffs and changes nothing; no-reboot refuses a field that
// needs a reboot, naming it; auto reboots for it; a live change is published.
func TestApplyOnARunningNode(t *testing.T) {
	a, reboots := applier(t, false)
	ctx := context.Background()
	cfg := testpki.ControlPlaneConfig(t)
	if err := Publish(ctx, a.Store, a.Emit, Loaded{Config: cfg, Data: testpki.Encode(t, cfg), Source: "state"}); err != nil {
		t.Fatal(err)
	}
	clone := func() *config.Config {
		c, err := config.Decode(testpki.Encode(t, cfg))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	next := clone()
	next.Machine.Network.Hostname = "renamed"
	res, err := a.Apply(ctx, Request{Data: testpki.Encode(t, next), DryRun: true})
	if err != nil || res.Applied != AppliedDryRun || len(res.Changes) != 1 || res.Changes[0].Path != "machine.network.hostname" || res.Changes[0].New != "renamed" {
		t.Fatalf("dry run = %+v, %v", res, err)
	}
	if _, err := os.Stat(Path(a.StateDir)); err == nil {
		t.Error("a dry run wrote STATE")
	}
	res, err = a.Apply(ctx, Request{Data: testpki.Encode(t, next), Mode: ModeNoReboot})
	if err != nil || res.Applied != AppliedLive || Current(a.Store).Config.Machine.Network.Hostname != "renamed" {
		t.Fatalf("live change: %+v, %v", res, err)
	}
	if len(res.Warnings) != 2 { // no controllers run here: neither network nor sysctls report
		t.Errorf("warnings %q, want the two statuses that never came", res.Warnings)
	}
	install := clone()
	install.Machine.Network.Hostname = "renamed"
	install.Machine.Install.Disk = "/dev/vda"
	_, err = a.Apply(ctx, Request{Data: testpki.Encode(t, install), Mode: ModeNoReboot})
	var nr *config.NeedsRebootError
	if !errors.As(err, &nr) || !strings.Contains(err.Error(), "machine.install.disk") || Current(a.Store).Config.Machine.Install.Disk != "" {
		t.Fatalf("no-reboot install change: %v", err)
	}
	if res, err := a.Apply(ctx, Request{Data: testpki.Encode(t, install)}); err != nil || res.Applied != AppliedRebooted || len(*reboots) != 1 {
		t.Fatalf("auto install change: %+v, %v, reboots %v", res, err, *reboots)
	}
}

// A live node (ISO or network boot) that gets a config with an install section answers
// "install scheduled": in maintenance mode the boot's Install phase runs it; on a running
// node the config is saved and published without a reboot and the install starts (it
// reboots when done). --mode no-reboot still refuses it: an install reboots.
func TestApplyOnALiveNodeSchedulesTheInstall(t *testing.T) {
	var started []string
	setup := func(a *Applier) {
		a.Installs = func(cfg *config.Config) bool { return cfg.Machine.Install.Disk != "" }
		a.Install = func(cfg *config.Config) { started = append(started, cfg.Machine.Install.Disk) }
	}
	cfg := testpki.ControlPlaneConfig(t)
	cfg.Machine.Install.Disk = "/dev/vda"
	data := testpki.Encode(t, cfg)
	ctx := context.Background()

	a, _ := applier(t, true)
	setup(a)
	go a.Handoff.Await(ctx, a.StateDir, func(err error) { t.Error(err) })
	if res, err := a.Apply(ctx, Request{Data: data}); err != nil || res.Applied != AppliedInstall || len(started) != 0 {
		t.Fatalf("maintenance: %+v, %v, started %v (the Install phase runs it, not Apply)", res, err, started)
	}

	a, reboots := applier(t, false)
	setup(a)
	if err := Publish(ctx, a.Store, a.Emit, Loaded{Config: testpki.ControlPlaneConfig(t), Source: "fwcfg"}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Apply(ctx, Request{Data: data, Mode: ModeNoReboot}); !errors.Is(err, config.ErrNeedsReboot) || len(started) != 0 {
		t.Fatalf("no-reboot: %v, started %v", err, started)
	}
	res, err := a.Apply(ctx, Request{Data: data})
	if err != nil || res.Applied != AppliedInstall || len(*reboots) != 0 || len(started) != 1 || started[0] != "/dev/vda" {
		t.Fatalf("running live node: %+v, %v, reboots %v, started %v", res, err, *reboots, started)
	}
	if Current(a.Store).Config.Machine.Install.Disk != "/dev/vda" {
		t.Error("the config with the install section is not the one in force")
	}
}
