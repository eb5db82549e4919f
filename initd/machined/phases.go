package machined

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kiln-os/kiln/bootloader/efivar"
	"github.com/kiln-os/kiln/initd/cgroup"
	"github.com/kiln-os/kiln/initd/configstate"
	"github.com/kiln-os/kiln/initd/diag"
	"github.com/kiln-os/kiln/initd/disks"
	"github.com/kiln-os/kiln/initd/events"
	"github.com/kiln-os/kiln/initd/machineapi"
	"github.com/kiln-os/kiln/initd/phase"
	"github.com/kiln-os/kiln/initd/resources"
	"github.com/kiln-os/kiln/internal/version"
	"github.com/kiln-os/kiln/kernel/kspp"
)

// phases is the boot, in order: each task is a free function given what it needs.
func (m *Machined) phases() []phase.Phase {
	store := m.Resources
	return []phase.Phase{
		{Name: "EnforceKSPPRequirements", Tasks: []phase.Task{
			{Name: "CheckCmdline", Run: checkCmdline("/proc/cmdline", m.emit)},
			{Name: "WriteSysctls", Run: writeSysctls("/proc/sys", m.emit)},
		}},
		{Name: "EarlyMounts", Tasks: earlyMountTasks(map[string]func(logrus.FieldLogger) error{
			"MountEfivarfs": func(log logrus.FieldLogger) error {
				reportSecureBoot(log, efivar.EfivarsDir, m.emit, func(s *resources.SecureBootStatusSpec) {
					m.setResource(resources.NamespaceRuntime, resources.TypeSecureBootStatus, resources.SecureBootStatusID, s)
				})
				m.medium = reportMedium(log, efivar.EfivarsDir, m.emit, m.setBootStatus)
				return nil
			},
			"MountSecurityfs": func(logrus.FieldLogger) error { m.verifyEventLog(); return nil },
			// Services are stopped with cgroup.kill: without the tree a setsid child would
			// outlive its service, so a tree that cannot be set up stops the boot.
			"MountCgroup2": func(logrus.FieldLogger) error { return setupCgroups(m.Cgroups, os.Getpid()) },
		})},
		{Name: "WaitForUSB", Tasks: []phase.Task{
			{Name: "SettleUSB", Run: settleUSB, Timeout: 15 * time.Second},
		}},
		{Name: "Storage", Tasks: []phase.Task{
			{Name: "MountState", Run: func(ctx context.Context, log logrus.FieldLogger) error {
				if m.medium.Medium.Live() {
					return disks.StateInRAM(log, m.emit, fmt.Sprintf("live boot from %s: the disks are left alone", m.medium.Medium))
				}
				policy, err := statePolicy(cmdline())
				if err != nil {
					return err
				}
				return disks.MountState(ctx, log, m.emit, policy)
			}, Timeout: 2 * time.Minute},
			{Name: "MountEphemeral", Run: func(ctx context.Context, log logrus.FieldLogger) error {
				if m.medium.Medium.Live() {
					return disks.EphemeralInRAM()
				}
				return disks.MountEphemeral(ctx, log, m.emit)
			}, Timeout: 5 * time.Minute},
		}},
		// STATE is open: PCR 11 moves past the value its key is sealed to before anything
		// that listens on the network (the machine API, maintenance mode) runs.
		{Name: "LockState", Tasks: []phase.Task{
			{Name: "MeasureSysinit", Run: m.lockStateTask, Timeout: time.Minute},
		}},
		{Name: "LoadConfig", Tasks: []phase.Task{
			{Name: "ServeMachineAPI", Run: m.serveMachineAPI},
			{Name: "LoadConfig", Run: m.loadConfig}, // no timeout: maintenance mode waits for an operator
		}},
		{Name: "Network", Tasks: []phase.Task{ // the controllers do the work; the tasks wait for it
			{Name: "ConfigureNetwork", Run: func(ctx context.Context, _ logrus.FieldLogger) error { return configstate.WaitNetwork(ctx, store) }, Timeout: time.Minute},
			{Name: "ApplySysctls", Run: func(ctx context.Context, _ logrus.FieldLogger) error { return configstate.WaitSysctls(ctx, store) }, Timeout: time.Minute},
		}},
		// A live boot (ISO or network) whose config has an install section installs here
		// and reboots into the disk; anything else passes through.
		{Name: "Install", Tasks: []phase.Task{
			{Name: "InstallToDisk", Run: m.installTask}, // no timeout: an image may be large; the fetch has its own
		}},
		{Name: "StartServices", Tasks: []phase.Task{
			{Name: "Supervise", Run: startServices(store, m.emit), Timeout: 2 * time.Minute},
		}},
		{Name: "Ready", Tasks: []phase.Task{
			{Name: "ReportReady", Run: m.reportReady},
		}},
	}
}

// setupCgroups creates the services' cgroup tree and moves PID 1 into its leaf.
func setupCgroups(tree *cgroup.Tree, pid int) error {
	if err := tree.Setup(pid); err != nil {
		return fmt.Errorf("services' cgroups under %s: %w", tree.Root(), err)
	}
	return nil
}

// statePolicy reads STATE's key policy from the signed kernel command line.
func statePolicy(cmdline string) (disks.Policy, error) {
	return disks.PolicyFromCmdline(kspp.ParseCmdline(cmdline))
}

// reportReady blesses the boot, then announces ready: a boot that cannot bless is not ready.
func (m *Machined) reportReady(ctx context.Context, log logrus.FieldLogger) error {
	if err := m.measureReady(); err != nil {
		return fmt.Errorf("measure ready: %w", err)
	}
	blessed, err := m.blessBoot(ctx, log)
	if err != nil {
		return fmt.Errorf("bless the booted UKI: %w", err)
	}
	fields := uptimeField()
	if blessed != "" {
		fields["blessed"] = blessed
	}
	fields["version"] = version.Version
	fields["kernel"] = machineapi.KernelRelease()
	for k, v := range memoryFields("/proc") {
		fields[k] = v
	}
	m.setMachineStatus(func(s *resources.MachineStatusSpec) { s.Stage, s.Ready = resources.StageRunning, true })
	m.emit(events.Event{Type: events.TypeBoot, Name: "machined", State: events.StateReady, Fields: fields})
	return nil
}

// memoryFields is what the node uses at ready, in bytes, for the boot benchmarks: all of
// its memory (MemTotal less MemAvailable) and machined's resident set. A figure that cannot
// be read is left out.
func memoryFields(proc string) map[string]string {
	fields := map[string]string{}
	if mem, err := (diag.Roots{Proc: proc}).Memory(); err == nil {
		fields["memTotal"] = fmt.Sprint(mem.Total)
		fields["memUsed"] = fmt.Sprint(mem.Total - mem.Available)
	}
	// statm's second field is the resident set in pages (proc(5)).
	if statm, err := os.ReadFile(filepath.Join(proc, "self", "statm")); err == nil {
		if f := strings.Fields(string(statm)); len(f) > 1 {
			if pages, err := strconv.ParseUint(f[1], 10, 64); err == nil {
				fields["machinedRSS"] = fmt.Sprint(pages * uint64(os.Getpagesize()))
			}
		}
	}
	return fields
}
