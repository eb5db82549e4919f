package machined

import (
	"context"
	"io"
	"os"

	"github.com/kiln-os/kiln/initd/apicert"
	"github.com/kiln-os/kiln/initd/containers"
	"github.com/kiln-os/kiln/initd/machineapi"
	"github.com/kiln-os/kiln/initd/netctl"
	"github.com/kiln-os/kiln/initd/resources"
	"github.com/kiln-os/kiln/initd/resources/controller"
	"github.com/kiln-os/kiln/initd/services"
	"github.com/kiln-os/kiln/initd/sysctl"
	"github.com/kiln-os/kiln/initd/watchdog"
)

// ResolvConf is where the network writes the resolvers; /etc/resolv.conf in the read-only
// root links to it (rootfs).
const ResolvConf = "/run/kiln/resolv.conf"

// owner writes the resources machined itself publishes (config, machine status, PCRs).
const owner = "machined"

// registerControllers builds the controllers that derive the node's state from its
// resources; startControllers runs them.
func (m *Machined) registerControllers() error {
	log := m.Log.WithField("component", "controllers")
	m.controllers = controller.NewManager(m.Resources, controller.Config{Log: log})
	m.services = &services.Controller{
		Runner:      services.Runner{Log: m.Log, Emit: m.Sink.Emit, Logs: m.Logs, Console: m.Console, Reaper: m.Reaper, Cgroups: m.Cgroups},
		BeforeStart: func() { m.wd.Release(true) }, // watchdogd feeds it from here on
		Store:       m.Resources,
	}
	m.containers = &containers.Controller{
		Runtime: m.containerRuntime,
		Log:     m.Log.WithField("component", "containers"),
		Emit:    m.Sink.Emit,
		Logs:    func(name string) io.Writer { return m.Logs.Get(containers.LogSource(name)) },
		Store:   m.Resources,
	}
	kubePayload, kube, kubeSetup := m.kubernetesControllers()
	m.kubePayload = kubePayload.Payload // what importPayload stores into
	for _, c := range []controller.Controller{
		netctl.SpecController{},
		&netctl.Controller{Store: m.Resources, Log: m.Log.WithField("component", "network"), Emit: m.Sink.Emit, ResolvConf: ResolvConf},
		&sysctl.Controller{ProcSys: "/proc/sys"},
		&apicert.Controller{APID: services.APIDUser, Trustd: services.TrustdUser, Log: log, Emit: m.emit},
		&services.SpecController{Watchdog: hasWatchdog(), MachinedSocket: machineapi.Socket},
		m.services,
		m.containers,
		kubePayload,
		kube,
		kubeSetup,
	} {
		if err := m.controllers.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// startControllers runs the controllers for the rest of the boot. They start in
// LoadConfig, not before: the network they bring up is network-facing code, which must
// wait until PCR 11 has moved past the value STATE is sealed to.
func (m *Machined) startControllers() {
	m.startCtl.Do(func() {
		m.startKubernetesHealth()
		go func() {
			if err := m.controllers.Run(context.Background()); err != nil {
				m.Log.WithError(err).Error("controllers stopped")
			}
		}()
	})
}

// containerRuntime is the client of the node's containerd, made at the first call (it
// connects lazily: a call while containerd is down fails, Unavailable).
func (m *Machined) containerRuntime() containers.Runtime {
	m.ctrOnce.Do(func() {
		c, err := containers.New(containers.Socket)
		if err != nil {
			m.Log.WithError(err).Error("containerd client")
			return
		}
		m.ctrClient = c
	})
	if m.ctrClient == nil {
		return nil
	}
	return m.ctrClient
}

func hasWatchdog() bool {
	_, err := os.Stat(watchdog.DefaultDevice)
	return err == nil
}

// setResource creates or replaces one resource owned by machined.
func (m *Machined) setResource(ns, typ, id string, spec any) {
	_, err := m.Resources.Set(context.Background(), ns, typ, id, owner, spec)
	if err != nil {
		m.Log.WithError(err).WithField("resource", ns+"/"+typ+"/"+id).Warn("publish resource")
	}
}

// setMachineStatus changes runtime/MachineStatus.
func (m *Machined) setMachineStatus(change func(*resources.MachineStatusSpec)) {
	_, err := m.Resources.Modify(context.Background(), resources.NamespaceRuntime, resources.TypeMachineStatus, resources.MachineStatusID, owner,
		func(current any) (any, error) {
			spec, _ := current.(*resources.MachineStatusSpec)
			if spec == nil {
				spec = &resources.MachineStatusSpec{}
			}
			change(spec)
			return spec, nil
		})
	if err != nil {
		m.Log.WithError(err).Warn("publish the machine status")
	}
}
