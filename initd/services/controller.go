package services

import (
	"context"
	"crypto/tls"
	"io"
	"maps"
	"net"
	"net/http"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/kiln-os/kiln/initd/cgroup"
	"github.com/kiln-os/kiln/initd/events"
	"github.com/kiln-os/kiln/initd/logbuf"
	"github.com/kiln-os/kiln/initd/resources"
	"github.com/kiln-os/kiln/initd/resources/controller"
	"github.com/kiln-os/kiln/initd/supervisor"
	"github.com/kiln-os/kiln/initd/watchdog"
	"github.com/kiln-os/kiln/internal/httpget"
)

// replaceBudget bounds the stop of the old supervisor when the set of services changes.
const replaceBudget = 20 * time.Second

// Runner is what running a service needs from the node.
type Runner struct {
	Log     logrus.FieldLogger
	Emit    func(events.Event)
	Logs    *logbuf.Set        // services with an Output write into their ring here
	Console io.Writer          // services without one write here
	Reaper  *supervisor.Reaper // collects exit statuses (PID 1 reaps every child)
	// Cgroups gives every service a cgroup of its own (machined always sets it); nil runs
	// services in machined's cgroup, for tests without cgroup2.
	Cgroups *cgroup.Tree
}

// Controller reconciles the supervisor to the runtime/ServiceSpec resources and publishes
// runtime/Service. The supervisor runs a fixed set of services: when only a service's
// generation changes, that service restarts; when the set or a command line changes, the
// supervisor is replaced.
type Controller struct {
	Runner
	// BeforeStart runs once, before the first service starts (machined hands the
	// watchdog to watchdogd there).
	BeforeStart func()
	// Store receives runtime/Service as the services change state, between reconciles.
	Store *resources.Store

	sup     atomic.Pointer[supervisor.Supervisor]
	running map[string]resources.ServiceSpecSpec // what sup was made from
	started sync.Once
	changed chan struct{} // a service changed state: republish
}

func (c *Controller) Name() string { return "ServiceController" }

func (c *Controller) Inputs() []controller.Input {
	return []controller.Input{
		{Namespace: resources.NamespaceRuntime, Type: resources.TypeServiceSpec},
		{Namespace: resources.NamespaceRuntime, Type: resources.TypeServiceSet},
	}
}

func (c *Controller) Outputs() []controller.Output {
	return []controller.Output{{Type: resources.TypeService}}
}

// Supervisor is the running supervisor; nil before the first service starts.
func (c *Controller) Supervisor() *supervisor.Supervisor { return c.sup.Load() }

// Reconcile starts, restarts or replaces services so that the supervisor runs the specs,
// once the spec controller has written the whole set (the ServiceSet names exactly the
// specs there are); in between it leaves the supervisor alone.
func (c *Controller) Reconcile(ctx context.Context, r *controller.Runtime) error {
	want, err := specsByName(r)
	if err != nil || len(want) == 0 {
		return err
	}
	if whole, err := wholeSet(r, want); err != nil || !whole {
		return err
	}
	if sup := c.sup.Load(); sup != nil && sameCommands(c.running, want) {
		c.restartChanged(sup, want)
		return nil
	}
	return c.replace(want)
}

func specsByName(r *controller.Runtime) (map[string]resources.ServiceSpecSpec, error) {
	list, err := r.List(resources.NamespaceRuntime, resources.TypeServiceSpec)
	if err != nil {
		return nil, err
	}
	out := map[string]resources.ServiceSpecSpec{}
	for _, res := range list {
		if spec, ok := res.Spec.(*resources.ServiceSpecSpec); ok {
			out[spec.Name] = *spec
		}
	}
	return out, nil
}

// wholeSet reports whether the ServiceSet names exactly the services in want.
func wholeSet(r *controller.Runtime, want map[string]resources.ServiceSpecSpec) (bool, error) {
	set, err := controller.Spec[resources.ServiceSetSpec](r, resources.NamespaceRuntime, resources.TypeServiceSet, resources.ServiceSetID)
	if err != nil || set == nil {
		return false, err
	}
	return slices.Equal(slices.Sorted(slices.Values(set.Names)), slices.Sorted(maps.Keys(want))), nil
}

// sameCommands reports whether two spec sets name the same services with the same
// commands, differing at most in their generations and holds.
func sameCommands(a, b map[string]resources.ServiceSpecSpec) bool {
	if !slices.Equal(slices.Sorted(maps.Keys(a)), slices.Sorted(maps.Keys(b))) {
		return false
	}
	for name, sa := range a {
		sb := b[name]
		sa.Generation, sb.Generation = "", ""
		sa.Hold, sb.Hold = "", ""
		if !reflect.DeepEqual(sa, sb) {
			return false
		}
	}
	return true
}

func (c *Controller) restartChanged(sup *supervisor.Supervisor, want map[string]resources.ServiceSpecSpec) {
	for _, name := range slices.Sorted(maps.Keys(want)) {
		if want[name].Hold != c.running[name].Hold {
			c.applyHold(sup, want[name])
			continue
		}
		if want[name].Generation == c.running[name].Generation {
			continue
		}
		if err := sup.Restart(name); err != nil {
			c.Log.WithError(err).WithField("service", name).Warn("restart for new inputs")
		}
	}
	c.running = want
}

// replace stops the running supervisor, if any, and starts one for want.
func (c *Controller) replace(want map[string]resources.ServiceSpecSpec) error {
	var svcs []supervisor.Service
	for _, name := range slices.Sorted(maps.Keys(want)) {
		svc, err := supervisor.NewProcess(c.processSpec(want[name]))
		if err != nil {
			return err
		}
		svcs = append(svcs, svc)
	}
	sup, err := supervisor.New(supervisor.Config{Log: c.Log, Emit: c.serviceEvent}, svcs...)
	if err != nil {
		return err
	}
	for _, name := range slices.Sorted(maps.Keys(want)) {
		if want[name].Hold != "" {
			c.applyHold(sup, want[name])
		}
	}
	if old := c.sup.Load(); old != nil {
		c.stop(old)
	}
	c.started.Do(c.beforeFirstStart)
	if err := sup.Start(); err != nil {
		return err
	}
	c.sup.Store(sup)
	c.running = want
	c.republish()
	return nil
}

// applyHold holds a service with its spec's reason, or releases it.
func (c *Controller) applyHold(sup *supervisor.Supervisor, spec resources.ServiceSpecSpec) {
	err := sup.Release(spec.Name)
	if spec.Hold != "" {
		err = sup.Hold(spec.Name, spec.Hold)
	}
	if err != nil {
		c.Log.WithError(err).WithField("service", spec.Name).Warn("hold or release")
	}
}

func (c *Controller) beforeFirstStart() {
	c.changed = make(chan struct{}, 1)
	go c.publish()
	if c.BeforeStart != nil {
		c.BeforeStart()
	}
}

func (c *Controller) stop(sup *supervisor.Supervisor) {
	ctx, cancel := context.WithTimeout(context.Background(), replaceBudget)
	defer cancel()
	if err := sup.Stop(ctx); err != nil {
		c.Log.WithError(err).Warn("services did not stop in time for the new set")
	}
}

// processSpec turns a service spec into what the supervisor runs.
func (c Runner) processSpec(s resources.ServiceSpecSpec) supervisor.ProcessSpec {
	p := supervisor.ProcessSpec{Name: s.Name, Argv: s.Argv, Env: s.Env, DependsOn: s.DependsOn, Reaper: c.Reaper, Output: c.Console, Cgroups: c.Cgroups,
		StartTimeout: time.Duration(s.StartTimeoutSeconds) * time.Second, FailureThreshold: s.FailureThreshold}
	if s.Output != "" {
		p.Output = c.Logs.Get(s.Output)
	}
	if s.UID != 0 || s.GID != 0 {
		p.Credential = &syscall.Credential{Uid: uint32(s.UID), Gid: uint32(s.GID)}
	}
	switch {
	case s.HealthTCP != "":
		p.Health = func(ctx context.Context) error { return Dialable(ctx, s.HealthTCP) }
	case s.HealthFile != "":
		p.Health = func(context.Context) error { return watchdog.Healthy(s.HealthFile) }
	case s.HealthContainerd != "":
		p.Health = func(ctx context.Context) error { return ContainerdAnswers(ctx, s.HealthContainerd) }
	case s.HealthHTTP != "":
		p.Health = func(ctx context.Context) error { return HTTPOK(ctx, s.HealthHTTP) }
	}
	return p
}

// containerdVersion is containerd's Version RPC (api/services/version/v1/version.proto).
const containerdVersion = "/containerd.services.version.v1.Version/Version"

// ContainerdAnswers reports whether containerd's API answers on its unix socket: its
// Version RPC returns. The reply is read as an empty message (its fields are unknown to
// it and ignored), so this check needs none of containerd's types.
func ContainerdAnswers(ctx context.Context, socket string) error {
	conn, err := grpc.NewClient("unix://"+socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Invoke(ctx, containerdVersion, &emptypb.Empty{}, &emptypb.Empty{})
}

// healthClient checks services on loopback: it does not verify their certificates (their
// clients do) and keeps no connection between checks.
var healthClient = &http.Client{Transport: &http.Transport{
	TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // a loopback health probe, not a client of the service's data
	DisableKeepAlives: true,
}}

// HTTPOK reports whether url answers 200.
func HTTPOK(ctx context.Context, url string) error {
	_, err := httpget.Get(ctx, healthClient, url, httpget.Upto(512))
	return err
}

// Dialable reports whether addr accepts a TCP connection.
func Dialable(ctx context.Context, addr string) error {
	d := net.Dialer{Timeout: time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	return conn.Close()
}

// serviceEvent passes a supervisor event on and asks publish to republish the services.
// It must not call back into the supervisor: the supervisor calls Emit under its emit
// lock, and Snapshot would wait for a state lock that another transition holds while it
// waits for the emit lock.
func (c *Controller) serviceEvent(e events.Event) {
	c.Emit(e)
	c.republish()
}

func (c *Controller) republish() {
	select {
	case c.changed <- struct{}{}:
	default: // a republish is already pending
	}
}

// publish keeps runtime/Service in step with the supervisor, for the rest of the boot.
func (c *Controller) publish() {
	for range c.changed {
		sup := c.sup.Load()
		if sup == nil {
			continue
		}
		var keep []string
		for _, st := range sup.Snapshot() {
			c.setStatus(st)
			keep = append(keep, st.Name)
		}
		c.forgetOthers(keep)
	}
}

func (c *Controller) setStatus(st supervisor.Status) {
	spec := &resources.ServiceSpec{Name: st.Name, State: st.State, Healthy: st.State == supervisor.StateHealthy,
		Restarts: st.Restarts, PID: st.Pid, Since: st.Since, LastError: st.LastError, Cgroup: st.Cgroup}
	_, err := c.Store.Set(context.Background(), resources.NamespaceRuntime, resources.TypeService, st.Name, c.Name(), spec)
	if err != nil {
		c.Log.WithError(err).WithField("service", st.Name).Warn("publish service state")
	}
}

func (c *Controller) forgetOthers(keep []string) {
	for _, res := range c.Store.List(resources.NamespaceRuntime, resources.TypeService) {
		if !slices.Contains(keep, res.ID) {
			if err := c.Store.Delete(resources.NamespaceRuntime, resources.TypeService, res.ID, c.Name()); err != nil {
				c.Log.WithError(err).WithField("service", res.ID).Warn("forget service state")
			}
		}
	}
}
