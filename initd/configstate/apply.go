package configstate

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/kiln-os/kiln/config"
	"github.com/kiln-os/kiln/initd/events"
	"github.com/kiln-os/kiln/initd/resources"
)

// Mode says when a new config may take effect.
type Mode int

const (
	// ModeAuto applies live when every changed field allows it, else reboots.
	ModeAuto Mode = iota
	// ModeNoReboot refuses a config that needs a reboot (a *config.NeedsRebootError).
	ModeNoReboot
	// ModeReboot always reboots after saving the config.
	ModeReboot
)

// What Apply did (Result.Applied).
const (
	AppliedDryRun   = "dry_run"
	AppliedLive     = "no_reboot"
	AppliedRebooted = "reboot"
	// AppliedInstall: a live node (ISO or network boot) took a config with an install
	// section; it installs to the disk the config names, then reboots from it.
	AppliedInstall = "install_scheduled"
)

// ErrBusy means another apply is under way: on a running node, or being handed to
// LoadConfig in maintenance mode. Nothing was changed; retry once it has finished.
var ErrBusy = errors.New("a config is already being applied; retry when it has finished (kilnctl version shows the node's state)")

// DefaultLiveWait bounds how long Apply waits for the controllers to apply a live change.
const DefaultLiveWait = 20 * time.Second

// Request is one ApplyConfiguration.
type Request struct {
	Data   []byte // the config, YAML
	DryRun bool
	Mode   Mode
}

// Result is what Apply did: the field-level changes (secrets redacted by config.Diff),
// how it applied them, and what the controllers could not apply.
type Result struct {
	Changes  []config.Change
	Applied  string
	Warnings []string
}

// Applier accepts configs from the API.
type Applier struct {
	Store       *resources.Store
	Emit        func(events.Event)
	StateDir    string
	Maintenance func() bool      // the node waits for its first config
	Handoff     *Handoff         // to LoadConfig, in maintenance mode
	Reboot      func(why string) // queues a reboot
	LiveWait    time.Duration    // DefaultLiveWait when zero
	// Installs reports whether this node installs cfg (a live boot, and cfg has an
	// install section); nil never does. Install starts that install on a running node
	// (in maintenance mode the boot's Install phase runs it once LoadConfig has the
	// config). Such a config is saved and published without a reboot: the install
	// reboots when it is done, into the installed disk.
	Installs func(cfg *config.Config) bool
	Install  func(cfg *config.Config)

	// applying is held from reading the config in force to publishing the new one (and
	// waiting for it): two applies at once could otherwise diff against the same old
	// config, then persist one and publish the other. A second apply is refused with
	// ErrBusy rather than queued, so that no caller waits on another's live wait.
	applying sync.Mutex
}

// Apply validates a config, diffs it against the one in force and, unless a dry run,
// persists it atomically and publishes it; the controllers then apply it. A rejected config
// changes nothing: errors match config.ErrInvalid or config.ErrNeedsReboot, and the old
// config stays in force. One apply runs at a time, from the diff to the controllers'
// report; another that arrives meanwhile gets ErrBusy and changes nothing (a dry run
// never waits).
func (a *Applier) Apply(ctx context.Context, req Request) (Result, error) {
	cfg, err := Decode(req.Data)
	if err != nil {
		return Result{}, err
	}
	if req.DryRun { // changes nothing, so it need not wait for a running apply
		return Result{Changes: a.diff(cfg), Applied: AppliedDryRun}, nil
	}
	if !a.applying.TryLock() {
		return Result{}, ErrBusy
	}
	defer a.applying.Unlock()
	res := Result{Changes: a.diff(cfg)}
	loaded := Loaded{Config: cfg, Data: req.Data, Source: resources.ConfigSourceAPI}
	installs := a.Installs != nil && a.Installs(cfg)
	if a.Maintenance() {
		res.Applied = AppliedLive
		if installs {
			res.Applied = AppliedInstall
		}
		return res, a.Handoff.Offer(ctx, loaded)
	}
	reboot := req.Mode == ModeReboot || len(config.NeedsReboot(res.Changes)) > 0
	if req.Mode == ModeNoReboot {
		if err := config.RequireLive(res.Changes); err != nil {
			return Result{}, err
		}
	}
	if installs {
		res, err := a.commit(ctx, loaded, res, false)
		if err != nil {
			return res, err
		}
		res.Applied = AppliedInstall
		a.Install(cfg)
		return res, nil
	}
	return a.commit(ctx, loaded, res, reboot)
}

// diff is what cfg changes from the config in force.
func (a *Applier) diff(cfg *config.Config) []config.Change {
	var old *config.Config
	if cur := Current(a.Store); cur != nil {
		old = cur.Config
	}
	return config.Diff(old, cfg)
}

// commit saves and publishes the config, then reboots or waits for the controllers.
func (a *Applier) commit(ctx context.Context, loaded Loaded, res Result, reboot bool) (Result, error) {
	if err := Persist(a.StateDir, loaded.Config); err != nil {
		return Result{}, err
	}
	if err := Publish(ctx, a.Store, a.Emit, loaded); err != nil {
		return Result{}, err
	}
	if reboot {
		res.Applied = AppliedRebooted
		a.Reboot("config applied")
		return res, nil
	}
	res.Applied = AppliedLive
	wait := a.LiveWait
	if wait <= 0 {
		wait = DefaultLiveWait
	}
	res.Warnings = WaitApplied(ctx, a.Store, wait)
	return res, nil
}

// Handoff passes a config from ApplyConfiguration to LoadConfig waiting in maintenance mode.
type Handoff struct {
	offers chan offer
}

type offer struct {
	loaded Loaded
	result chan error // nil once persisted to STATE; else why not (the node keeps waiting)
}

// NewHandoff returns a Handoff with nobody waiting yet.
func NewHandoff() *Handoff { return &Handoff{offers: make(chan offer)} }

// Offer hands l to Await and returns once it is on STATE, or why it is not.
func (h *Handoff) Offer(ctx context.Context, l Loaded) error {
	result := make(chan error, 1)
	select {
	case h.offers <- offer{loaded: l, result: result}:
	case <-time.After(time.Second): // LoadConfig is busy with another config
		return ErrBusy
	}
	select {
	case err := <-result:
		if err != nil {
			return fmt.Errorf("config valid but not saved to STATE, the node stays in maintenance mode: %w", err)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Await takes offered configs until one is persisted to stateDir, and returns it.
func (h *Handoff) Await(ctx context.Context, stateDir string, logErr func(error)) (Loaded, error) {
	for {
		select {
		case got := <-h.offers:
			err := Persist(stateDir, got.loaded.Config)
			got.result <- err
			if err != nil {
				logErr(err)
				continue
			}
			return got.loaded, nil
		case <-ctx.Done():
			return Loaded{}, ctx.Err()
		}
	}
}
