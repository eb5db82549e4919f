// Package sysctl is the controller that writes the machine config's kernel parameters
// (machine.sysctls, and what Kubernetes needs when the config runs it) under /proc/sys
// whenever the config changes, and publishes what it
// read back as runtime/SysctlStatus. The KSPP hardening sysctls are not its business:
// EnforceKSPPRequirements writes those at boot (package hardening), and configstate
// refuses a config that would weaken them.
//
// The room: one controller. It reads only the config resource and touches only the files
// under the /proc/sys directory it is given.
package sysctl

import (
	"context"
	"maps"
	"slices"

	"github.com/kiln-os/kiln/initd/configstate"
	"github.com/kiln-os/kiln/initd/hardening"
	"github.com/kiln-os/kiln/initd/resources"
	"github.com/kiln-os/kiln/initd/resources/controller"
)

// kubernetesSysctls are written on a node whose config runs Kubernetes, unless the
// config sets them itself. Forwarding: a node port or a Service on one node reaches a
// pod on another only through the node's forwarding (kube-proxy's DNAT, then the route
// to that node's pod CIDR), and a node without a pod never gets it from the bridge CNI
// plugin, which turns it on only as a pod's gateway (kubeadm's preflight checks the
// same file). Found by make cluster-test: the controlplane's node port timed out.
var kubernetesSysctls = map[string]string{"net.ipv4.ip_forward": "1"}

// Controller writes the config's sysctls.
type Controller struct {
	ProcSys string // "/proc/sys" on the node
}

func (c *Controller) Name() string { return "SysctlController" }

func (c *Controller) Inputs() []controller.Input { return []controller.Input{configstate.Input} }

func (c *Controller) Outputs() []controller.Output {
	return []controller.Output{{Type: resources.TypeSysctlStatus}}
}

// Reconcile writes every sysctl of the config, in name order, and reports each value as
// read back or why it could not be written. A sysctl removed from the config keeps its
// value: the kernel has no "unset", and the old default is not known.
func (c *Controller) Reconcile(ctx context.Context, r *controller.Runtime) error {
	cfg, err := configstate.FromRuntime(r)
	if err != nil || cfg == nil {
		return err
	}
	status := &resources.SysctlStatusSpec{ConfigSHA256: cfg.SHA256}
	sysctls := cfg.Config.Machine.Sysctls
	if cfg.Config.Kubernetes() {
		sysctls = maps.Clone(kubernetesSysctls)
		maps.Copy(sysctls, cfg.Config.Machine.Sysctls) // the config's own win
	}
	for _, name := range slices.Sorted(maps.Keys(sysctls)) {
		if err := hardening.WriteSysctl(c.ProcSys, name, sysctls[name]); err != nil {
			status.Errors = setKey(status.Errors, name, err.Error())
			continue
		}
		status.Values = setKey(status.Values, name, readBack(c.ProcSys, name))
	}
	_, err = r.Set(ctx, resources.NamespaceRuntime, resources.TypeSysctlStatus, resources.SysctlStatusID, status)
	return err
}

func readBack(procSys, name string) string {
	got, err := hardening.ReadSysctl(procSys, name)
	if err != nil {
		return ""
	}
	return got
}

func setKey(m map[string]string, k, v string) map[string]string {
	if m == nil {
		m = map[string]string{}
	}
	m[k] = v
	return m
}
