// Package machined is PID 1 after the switch root: it boots the machine as named phases of
// concurrent tasks, supervises services, reaps orphans and shuts down cleanly on the ACPI
// power button or a signal.
//
// Before the phases, machined arms the hardware watchdog and feeds it until
// watchdog.BootDeadline (watchdog.Keeper); StartServices hands it to the watchdogd service.
//
// Boot, in order (DESIGN.md "PID 1"):
//
//  1. EnforceKSPPRequirements: required kernel parameters present, hardening sysctls
//     written and read back (package hardening, table kernel/kspp).
//  2. EarlyMounts: /run, /system, /tmp, /dev/pts, /dev/shm, cgroup2, securityfs, efivarfs;
//     on cgroup2 the services' cgroup tree (package cgroup), with PID 1 moved into its
//     leaf kiln/init.
//  3. WaitForUSB: let USB storage settle, bounded.
//  4. Storage: open STATE (unsealing its key with the TPM, or creating it sealed) on
//     /system/state and EPHEMERAL on /var (packages disks and storage); diskless without
//     them.
//  5. LoadConfig: serve the machine API on its unix socket; load the machine config from
//     STATE, the kiln.config= URL or QEMU fw_cfg, else wait in maintenance mode for one
//     over apid; persist it to STATE, publish it and start the controllers.
//  6. Network: wait until the NetworkController has applied the network specs derived from
//     the config (links, DHCP or static addresses, routes, hostname, resolvers, time), and
//     the SysctlController the config's sysctls.
//  7. StartServices: the ServiceSpecController now lists apid and trustd (as their own
//     user, with the certificate the APICertificateController issued) and watchdogd, and
//     the ServiceController runs them; wait until they are healthy.
//  8. Ready: extend PCR 11 with "ready", check that STATE's key no longer unseals; on the
//     ESP, remove what an interrupted upgrade left and report an upgrade that fell back
//     (package upgrade), bless the booted UKI, publish runtime/BootStatus; emit
//     {"type":"boot","state":"ready"}. From then on the API's Upgrade and Rollback may
//     mount the ESP (upgrade.go).
//
// State lives in a resource store (package resources) that the API reads. LoadConfig and
// ApplyConfiguration publish the config as config/MachineConfig (package configstate);
// controllers derive the rest from resources (packages netctl, sysctl, apicert,
// services), live, for the rest of the boot. Machined itself holds no config: it wires
// the store, the controllers, the API and the phases together, and owns the hardware
// the phases need (watchdog, TPM, power button).
//
// A failed phase stops the boot: the failure is on the console and in the event stream,
// no later phase runs, and after FailureRebootDelay machined reboots (sooner if the power
// button is pressed), so that systemd-boot's boot counting can fall back to the previous
// UKI. It never exits: shutdown (package halt for the last steps) travels up as a
// *ShutdownError to the caller, which performs it.
package machined

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/kiln-os/kiln/initd/bootmedium"
	"github.com/kiln-os/kiln/initd/cgroup"
	"github.com/kiln-os/kiln/initd/configstate"
	"github.com/kiln-os/kiln/initd/containers"
	"github.com/kiln-os/kiln/initd/disks"
	"github.com/kiln-os/kiln/initd/events"
	"github.com/kiln-os/kiln/initd/eventsink"
	"github.com/kiln-os/kiln/initd/k8s"
	"github.com/kiln-os/kiln/initd/logbuf"
	"github.com/kiln-os/kiln/initd/phase"
	"github.com/kiln-os/kiln/initd/power"
	"github.com/kiln-os/kiln/initd/resources"
	"github.com/kiln-os/kiln/initd/resources/controller"
	"github.com/kiln-os/kiln/initd/services"
	"github.com/kiln-os/kiln/initd/supervisor"
	"github.com/kiln-os/kiln/initd/watchdog"
	"github.com/kiln-os/kiln/internal/version"
)

// FailureRebootDelay is how long a failed boot keeps its error on the console before it
// reboots.
const FailureRebootDelay = 30 * time.Second

// Stage1UptimeEnv carries the uptime at which stage 1 started, for boot timing events.
const Stage1UptimeEnv = "KILN_STAGE1_UPTIME"

// ShutdownError asks the caller to power off (or reboot) the machine.
type ShutdownError struct {
	Reboot bool
	Reason string
}

func (e *ShutdownError) Error() string {
	if e.Reboot {
		return "reboot: " + e.Reason
	}
	return "power off: " + e.Reason
}

// Machined is the running PID 1.
type Machined struct {
	Log    *logrus.Logger
	Sink   *eventsink.Sink
	Reaper *supervisor.Reaper
	// Cgroups is where every service runs, each in a cgroup of its own; EarlyMounts sets
	// it up once cgroup2 is mounted. Nil means cgroup.DefaultRoot.
	Cgroups *cgroup.Tree
	// Console receives service output.
	Console io.Writer

	// Logs keeps the recent output of machined and of every service, for the API.
	Logs *logbuf.Set
	// Resources is machined's state as typed resources; the API reads it.
	Resources *resources.Store

	controllers   *controller.Manager
	services      *services.Controller   // runs the supervisor
	containers    *containers.Controller // runs machine.containers on containerd
	ctrOnce       sync.Once
	ctrClient     *containers.Client // containerd's, made by containerRuntime
	criOnce       sync.Once
	criClient     *containers.Client // the CRI containerd's, made by criRuntime
	kubePayload   k8s.Payload        // the pinned Kubernetes payload (kubernetesControllers)
	startCtl      sync.Once          // the controllers start in LoadConfig
	wd            *watchdog.Keeper   // nil without a watchdog
	requests      chan request
	handoff       *configstate.Handoff // ApplyConfiguration in maintenance mode → LoadConfig
	stateDir      string               // where STATE is mounted (disks.StateMount)
	inMaintenance atomic.Bool
	lockOnce      sync.Once // PCR 11 moves past STATE's signed value once per boot
	lockErr       error
	measure       func(word string) error // extends PCR 11 (measurePhase; tests fake it)
	// medium is what the firmware booted from, found in EarlyMounts (bootmedium.Detect)
	// and read by the later phases: a live medium leaves the disks alone.
	medium bootmedium.Evidence
	// installing is held while an install writes a disk (the boot's Install phase, or an
	// ApplyConfiguration on a running live node): one at a time.
	installing sync.Mutex
}

// init fills in what the caller left out.
func (m *Machined) init() {
	if m.Logs == nil {
		m.Logs = logbuf.NewSet(nil)
	}
	if m.Resources == nil {
		m.Resources = resources.New(resources.Config{})
	}
	if m.Cgroups == nil {
		m.Cgroups = cgroup.New(cgroup.DefaultRoot)
	}
	if m.stateDir == "" {
		m.stateDir = disks.StateMount
	}
	m.handoff = configstate.NewHandoff()
	if m.measure == nil {
		m.measure = m.measurePhase
	}
	m.setMachineStatus(func(s *resources.MachineStatusSpec) { s.Stage = resources.StageBooting })
	if err := m.registerControllers(); err != nil {
		m.Log.WithError(err).Error("controllers") // a registration bug: the node's state will not follow its config
	}
}

// Run boots the machine and then waits for a shutdown request; it returns only a
// *ShutdownError (or ctx's error). A shutdown request during the boot (the power button in
// maintenance mode, say) cancels the remaining phases first.
func (m *Machined) Run(ctx context.Context) error {
	m.init()
	m.requests = watchRequests(ctx, m.Log)
	m.emit(events.Event{Type: events.TypeBoot, Name: "machined", State: events.StateStarted, Fields: bootFields()})
	m.wd = watchdog.Arm(m.Log, m.emit)
	m.reportStage1PCR11()
	go m.publishProcessStats(ctx, "/proc/self/fd", ProcessStatsInterval)
	bootCtx, cancelBoot := context.WithCancel(ctx)
	defer cancelBoot()
	booted := make(chan error, 1)
	runner := &phase.Runner{Phases: m.phases(), Emit: recordPhase(m.emit, m.setMachineStatus), Log: m.Log}
	go func() { booted <- runner.Run(bootCtx) }()
	var rebootAfterFailure <-chan time.Time
	for {
		select {
		case err := <-booted:
			booted = nil
			if err != nil {
				m.bootFailed(err)
				rebootAfterFailure = time.After(FailureRebootDelay)
			}
		case req := <-m.requests:
			if booted != nil {
				cancelBoot()
				select {
				case <-booted:
				case <-time.After(serviceStopBudget):
					m.Log.Warn("boot phases did not stop in time")
				}
			}
			return m.shutdown(req)
		case <-rebootAfterFailure:
			return m.shutdown(request{reboot: true, reason: "boot failed"})
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// bootFailed locks STATE's key (a boot that failed before LockState must not leave it
// unsealable while it waits to reboot) and reports the failure.
func (m *Machined) bootFailed(err error) {
	if lockErr := m.lockState(); lockErr != nil {
		m.Log.WithError(lockErr).Error("could not move PCR 11 past STATE's signed value")
	}
	m.Log.WithError(err).Errorf("boot failed; rebooting in %s (no services run)", FailureRebootDelay)
	m.emit(events.Event{Type: events.TypeBoot, Name: "machined", State: events.StateFailed, Error: err.Error(), Fields: uptimeField()})
}

// recordPhase passes phase events on and records the running phase in MachineStatus:
// services start only from StartServices on.
func recordPhase(emit func(events.Event), setStatus func(func(*resources.MachineStatusSpec))) func(events.Event) {
	return func(e events.Event) {
		if e.Type == events.TypePhase && e.State == events.StateStarted {
			setStatus(func(s *resources.MachineStatusSpec) { s.Phase = e.Name })
		}
		emit(e)
	}
}

// requestPower queues a shutdown request (from the API) for Run.
func (m *Machined) requestPower(req request) {
	select {
	case m.requests <- req:
	default: // a shutdown is already queued
	}
}

func (m *Machined) emit(e events.Event) { m.Sink.Emit(e) }

// bootFields reports when stage 1 and machined started, in seconds since the kernel started.
func bootFields() map[string]string {
	f := uptimeField()
	f["machinedUptime"] = f["uptime"]
	if s := os.Getenv(Stage1UptimeEnv); s != "" {
		f["stage1Uptime"] = s
	}
	f["version"] = version.Version
	f["go"] = runtime.Version()
	return f
}

// Uptime is the time since the kernel started (CLOCK_BOOTTIME).
func Uptime() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

func uptimeField() map[string]string {
	return map[string]string{"uptime": fmt.Sprintf("%.3f", Uptime().Seconds())}
}

// request is a shutdown request from the power button or a signal.
type request struct {
	reboot bool
	reason string
	// wipeState and wipeEphemeral make the shutdown a reset (API Reset).
	wipeState, wipeEphemeral bool
}

// watchRequests turns the power button and signals into shutdown requests:
// power button and SIGTERM power off; SIGUSR1 and SIGINT (Ctrl-Alt-Del) reboot.
func watchRequests(ctx context.Context, log logrus.FieldLogger) chan request {
	out := make(chan request, 4)
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, unix.SIGTERM, unix.SIGUSR1, unix.SIGINT)
	go func() {
		for s := range sigs {
			out <- request{reboot: s != unix.SIGTERM, reason: "signal " + s.String()}
		}
	}()
	go power.WatchButtons(ctx, log, func() { out <- request{reason: "power button"} })
	return out
}
