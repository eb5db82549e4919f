package services

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus/hooks/test"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/kiln-os/kiln/config"
	"github.com/kiln-os/kiln/initd/events"
	"github.com/kiln-os/kiln/initd/logbuf"
	"github.com/kiln-os/kiln/initd/resources"
	"github.com/kiln-os/kiln/initd/resources/controller"
	"github.com/kiln-os/kiln/initd/resources/resourcetest"
	"github.com/kiln-os/kiln/initd/supervisor"
)

func specNames(t *testing.T, s *resources.Store) []string {
	var names []string
	for _, r := range s.List(resources.NamespaceRuntime, resources.TypeServiceSpec) {
		names = append(names, r.ID)
	}
	return names
}

// Services wait for StartServices and the certificate; trustd runs only with the CA key,
// and a new certificate changes the generation but not the command line.
func TestSpecControllerFollowsConfigCertAndPhase(t *testing.T) {
	s := resources.New(resources.Config{})
	c := &SpecController{Watchdog: true, MachinedSocket: "/run/m.sock"}
	r := controller.NewRuntime(s, c)
	ctx := context.Background()
	cfg := &config.Config{Machine: config.Machine{CA: config.CA{Crt: "crt", Key: "key"}}}
	resourcetest.Set(t, s, resources.NamespaceConfig, resources.TypeMachineConfig, resources.MachineConfigID, &resources.MachineConfigSpec{Config: cfg})
	resourcetest.Set(t, s, resources.NamespaceSecrets, resources.TypeAPICertificate, resources.APICertificateID, &resources.APICertificateSpec{CertificatePEM: "one"})
	resourcetest.Set(t, s, resources.NamespaceRuntime, resources.TypeMachineStatus, resources.MachineStatusID, &resources.MachineStatusSpec{Phase: "Network"})
	if err := c.Reconcile(ctx, r); err != nil || len(specNames(t, s)) != 0 {
		t.Fatalf("before StartServices: %v %v", specNames(t, s), err)
	}
	resourcetest.Set(t, s, resources.NamespaceRuntime, resources.TypeMachineStatus, resources.MachineStatusID, &resources.MachineStatusSpec{Phase: resources.PhaseStartServices})
	if err := c.Reconcile(ctx, r); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(specNames(t, s), " "); got != "apid containerd trustd watchdogd" {
		t.Fatalf("control plane services %v", got)
	}
	if res, err := s.Get(resources.NamespaceRuntime, resources.TypeServiceSet, resources.ServiceSetID); err != nil ||
		strings.Join(res.Spec.(*resources.ServiceSetSpec).Names, " ") != "containerd apid trustd watchdogd" {
		t.Fatalf("ServiceSet %+v, %v", res.Spec, err)
	}
	apid, _ := s.Get(resources.NamespaceRuntime, resources.TypeServiceSpec, "apid")
	first := apid.Spec.(*resources.ServiceSpecSpec)
	resourcetest.Set(t, s, resources.NamespaceSecrets, resources.TypeAPICertificate, resources.APICertificateID, &resources.APICertificateSpec{CertificatePEM: "two"})
	cfg.Machine.CA.Key = ""
	resourcetest.Set(t, s, resources.NamespaceConfig, resources.TypeMachineConfig, resources.MachineConfigID, &resources.MachineConfigSpec{Config: cfg})
	if err := c.Reconcile(ctx, r); err != nil {
		t.Fatal(err)
	}
	apid, _ = s.Get(resources.NamespaceRuntime, resources.TypeServiceSpec, "apid")
	second := apid.Spec.(*resources.ServiceSpecSpec)
	if second.Generation == first.Generation || !sameCommands(map[string]resources.ServiceSpecSpec{"apid": *first}, map[string]resources.ServiceSpecSpec{"apid": *second}) {
		t.Errorf("new certificate: generation %q → %q", first.Generation, second.Generation)
	}
	if got := strings.Join(specNames(t, s), " "); got != "apid containerd watchdogd" {
		t.Errorf("worker services %v", got)
	}
}

// The controller starts the supervisor for the specs, restarts a service whose
// generation changes, leaves it alone while the set is only partly written (the
// ServiceSet names services without specs yet, or specs exist that it does not name) and
// replaces it when the whole set changes.
func TestControllerReconcilesTheSupervisor(t *testing.T) {
	log, _ := test.NewNullLogger()
	s := resources.New(resources.Config{})
	var before int
	c := &Controller{Runner: Runner{Log: log, Emit: func(events.Event) {}, Logs: logbuf.NewSet(nil)}, Store: s, BeforeStart: func() { before++ }}
	m := controller.NewManager(s, controller.Config{})
	if err := m.Register(c); err != nil {
		t.Fatal(err)
	}
	r := controller.NewRuntime(s, c)
	ctx := context.Background()
	sleeper := &resources.ServiceSpecSpec{Name: "sleeper", Argv: []string{"sleep", "60"}, Output: "sleeper", Generation: "1"}
	resourcetest.Set(t, s, resources.NamespaceRuntime, resources.TypeServiceSpec, "sleeper", sleeper)
	if err := c.Reconcile(ctx, r); err != nil || c.Supervisor() != nil {
		t.Fatalf("specs without a ServiceSet started a supervisor (err %v)", err)
	}
	serviceSet(t, s, "sleeper")
	if err := c.Reconcile(ctx, r); err != nil {
		t.Fatal(err)
	}
	sup := c.Supervisor()
	t.Cleanup(func() { c.Supervisor().Stop(context.Background()) })
	waitState(t, sup, "sleeper", supervisor.StateHealthy)
	pid := sup.Snapshot()[0].Pid
	sleeper.Generation = "2"
	resourcetest.Set(t, s, resources.NamespaceRuntime, resources.TypeServiceSpec, "sleeper", sleeper)
	if err := c.Reconcile(ctx, r); err != nil {
		t.Fatal(err)
	}
	if c.Supervisor() != sup {
		t.Fatal("a new generation replaced the supervisor")
	}
	eventually(t, "a restart", func() bool { st := sup.Snapshot()[0]; return st.Pid != 0 && st.Pid != pid })
	resourcetest.Set(t, s, resources.NamespaceRuntime, resources.TypeServiceSpec, "other", &resources.ServiceSpecSpec{Name: "other", Argv: []string{"sleep", "60"}})
	if err := c.Reconcile(ctx, r); err != nil || c.Supervisor() != sup || len(sup.Snapshot()) != 1 {
		t.Fatalf("a spec the ServiceSet does not name yet changed the supervisor (err %v)", err)
	}
	serviceSet(t, s, "sleeper", "other")
	if err := c.Reconcile(ctx, r); err != nil {
		t.Fatal(err)
	}
	if c.Supervisor() == sup || len(c.Supervisor().Snapshot()) != 2 || before != 1 {
		t.Errorf("a new service: supervisor replaced %v, %d services, BeforeStart ran %d times", c.Supervisor() != sup, len(c.Supervisor().Snapshot()), before)
	}
	eventually(t, "runtime/Service for both", func() bool { return len(s.List(resources.NamespaceRuntime, resources.TypeService)) == 2 })
}

func serviceSet(t *testing.T, s *resources.Store, names ...string) {
	t.Helper()
	resourcetest.Set(t, s, resources.NamespaceRuntime, resources.TypeServiceSet, resources.ServiceSetID, &resources.ServiceSetSpec{Names: names})
}

func waitState(t *testing.T, sup *supervisor.Supervisor, name, state string) {
	t.Helper()
	eventually(t, name+" "+state, func() bool {
		for _, st := range sup.Snapshot() {
			if st.Name == name && st.State == state {
				return true
			}
		}
		return false
	})
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 10s: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ContainerdAnswers needs containerd's Version RPC to answer, not only the socket to
// accept: a gRPC server without the version service fails it, one with it passes.
func TestContainerdAnswers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dir := t.TempDir()
	if err := ContainerdAnswers(ctx, filepath.Join(dir, "none.sock")); err == nil {
		t.Error("no socket: healthy")
	}
	serve := func(name string, withVersion bool) string {
		sock := filepath.Join(dir, name)
		l, err := net.Listen("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		srv := grpc.NewServer()
		if withVersion {
			srv.RegisterService(&grpc.ServiceDesc{
				ServiceName: "containerd.services.version.v1.Version",
				HandlerType: (*any)(nil),
				Methods: []grpc.MethodDesc{{MethodName: "Version", Handler: func(_ any, _ context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
					return &emptypb.Empty{}, dec(&emptypb.Empty{})
				}}},
			}, struct{}{})
		}
		go srv.Serve(l)
		t.Cleanup(srv.Stop)
		return sock
	}
	if err := ContainerdAnswers(ctx, serve("other.sock", false)); err == nil {
		t.Error("a server without the version service: healthy")
	}
	if err := ContainerdAnswers(ctx, serve("containerd.sock", true)); err != nil {
		t.Errorf("containerd answering: %v", err)
	}
}
