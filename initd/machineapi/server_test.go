package machineapi

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus/hooks/test"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/kiln-os/kiln/api/machine"
	"github.com/kiln-os/kiln/config"
	"github.com/kiln-os/kiln/initd/configstate"
	"github.com/kiln-os/kiln/initd/events"
	"github.com/kiln-os/kiln/initd/eventsink"
	"github.com/kiln-os/kiln/initd/logbuf"
	"github.com/kiln-os/kiln/initd/resources"
	"github.com/kiln-os/kiln/initd/resources/controller"
	"github.com/kiln-os/kiln/initd/supervisor"
)

type fakeServices struct{ restarted, held, released []string }

func (f *fakeServices) Hold(name, why string) error {
	if name != "trustd" {
		return supervisor.ErrUnknownService
	}
	f.held = append(f.held, name)
	return nil
}

func (f *fakeServices) Release(name string) error {
	if name != "trustd" {
		return supervisor.ErrUnknownService
	}
	f.released = append(f.released, name)
	return nil
}

func (f *fakeServices) Snapshot() []supervisor.Status {
	return []supervisor.Status{{Name: "apid", State: supervisor.StateHealthy, Pid: 42, Restarts: 1}}
}

func (f *fakeServices) Restart(name string) error {
	if name != "apid" {
		return supervisor.ErrUnknownService
	}
	f.restarted = append(f.restarted, name)
	return nil
}

// start serves s on a unix socket in a temporary directory and returns a client.
func start(t *testing.T, s *Server) machine.MachineServiceClient {
	t.Helper()
	log, _ := test.NewNullLogger()
	s.Log = log
	sock := filepath.Join(t.TempDir(), "m.sock")
	l, err := Listen(sock, os.Getuid(), os.Getgid())
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(sock); fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, want 0600", fi.Mode().Perm())
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, l) }()
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(); cancel(); <-done })
	return machine.NewMachineServiceClient(conn)
}

func TestVersionAndServices(t *testing.T) {
	svcs := &fakeServices{}
	c := start(t, &Server{Services: func() Services { return svcs }, Maintenance: func() bool { return true }})
	ctx := context.Background()
	v, err := c.Version(ctx, &machine.VersionRequest{})
	if err != nil || !v.Maintenance || v.GoVersion == "" {
		t.Fatalf("Version = %v, %v", v, err)
	}
	list, err := c.ServiceList(ctx, &machine.ServiceListRequest{})
	if err != nil || len(list.Services) != 1 || list.Services[0].Health != "healthy" || list.Services[0].Pid != 42 {
		t.Fatalf("ServiceList = %v, %v", list, err)
	}
	if _, err := c.ServiceRestart(ctx, &machine.ServiceRestartRequest{Name: "apid"}); err != nil || len(svcs.restarted) != 1 {
		t.Errorf("restart apid: %v (%v)", err, svcs.restarted)
	}
	if _, err := c.ServiceRestart(ctx, &machine.ServiceRestartRequest{Name: "nope"}); status.Code(err) != codes.NotFound {
		t.Errorf("restart nope: %v", err)
	}
}

func TestNotYetAvailable(t *testing.T) {
	c := start(t, &Server{})
	ctx := context.Background()
	if _, err := c.Reboot(ctx, &machine.RebootRequest{}); status.Code(err) != codes.Unavailable {
		t.Errorf("Reboot without Power = %v", err)
	}
	if list, err := c.ServiceList(ctx, &machine.ServiceListRequest{}); err != nil || len(list.Services) != 0 {
		t.Errorf("ServiceList before services = %v, %v", list, err)
	}
}

func TestPowerAndReset(t *testing.T) {
	var got []Power
	c := start(t, &Server{Power: func(p Power) error { got = append(got, p); return nil }})
	ctx := context.Background()
	if _, err := c.Reset(ctx, &machine.ResetRequest{}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("Reset wiping nothing = %v", err)
	}
	c.Reboot(ctx, &machine.RebootRequest{})
	c.Shutdown(ctx, &machine.ShutdownRequest{})
	c.Reset(ctx, &machine.ResetRequest{WipeState: true, Reboot: true})
	if len(got) != 3 || !got[0].Reboot || got[1].Reboot || !got[2].WipeState || !got[2].Reboot {
		t.Errorf("power requests %+v", got)
	}
}

func TestEventsReplayAndFollow(t *testing.T) {
	sink := eventsink.New(nil, nil)
	sink.Emit(events.Event{Type: events.TypeBoot, Name: "machined", State: events.StateStarted})
	c := start(t, &Server{EventSink: sink})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := c.Events(ctx, &machine.EventsRequest{Follow: true, TailEvents: -1})
	if err != nil {
		t.Fatal(err)
	}
	first, err := stream.Recv()
	if err != nil || first.Seq != 1 || first.Name != "machined" {
		t.Fatalf("first event %v, %v", first, err)
	}
	sink.Emit(events.Event{Type: events.TypeBoot, Name: "machined", State: events.StateReady})
	second, err := stream.Recv()
	if err != nil || second.Seq != 2 || second.State != events.StateReady {
		t.Fatalf("followed event %v, %v", second, err)
	}
}

func TestLogs(t *testing.T) {
	set := logbuf.NewSet(nil)
	set.Get("machined").Write([]byte("one\ntwo\nthree\n"))
	c := start(t, &Server{LogSet: set})
	stream, err := c.Logs(context.Background(), &machine.LogsRequest{Service: "machined", TailLines: 2})
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for {
		l, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, l.Line)
	}
	if len(lines) != 2 || lines[0] != "two" || lines[1] != "three" {
		t.Errorf("tail 2 = %q", lines)
	}
	since := time.Now()
	time.Sleep(10 * time.Millisecond)
	set.Get("machined").Write([]byte("four\n"))
	stream, err = c.Logs(context.Background(), &machine.LogsRequest{Service: "machined", TailLines: -1, Since: timestamppb.New(since)})
	if err != nil {
		t.Fatal(err)
	}
	if l, err := stream.Recv(); err != nil || l.Line != "four" {
		t.Errorf("since: first line %v, %v, want four", l, err)
	}
	if l, err := stream.Recv(); err != io.EOF {
		t.Errorf("since: then %v, %v, want the end", l, err)
	}
	s, _ := c.Logs(context.Background(), &machine.LogsRequest{Service: "nope"})
	if _, err := s.Recv(); status.Code(err) != codes.NotFound {
		t.Errorf("unknown source: %v", err)
	}
}

func TestResources(t *testing.T) {
	store := resources.New(resources.Config{})
	_, err := store.Create(resources.Resource{
		Metadata: resources.Metadata{Namespace: resources.NamespaceNetwork, Type: resources.TypeHostnameStatus, ID: resources.HostnameStatusID, Owner: "network"},
		Spec:     &resources.HostnameStatusSpec{Hostname: "node1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	c := start(t, &Server{Resources: store})
	ctx := context.Background()
	r, err := c.ResourceGet(ctx, &machine.ResourceGetRequest{Type: "hostnamestatus", Id: resources.HostnameStatusID})
	if err != nil || r.Metadata.Version != 1 || r.Metadata.Namespace != resources.NamespaceNetwork {
		t.Fatalf("get = %v, %v", r, err)
	}
	if _, err := c.ResourceGet(ctx, &machine.ResourceGetRequest{Type: "nosuchtype"}); status.Code(err) != codes.NotFound {
		t.Errorf("unknown type: %v", err)
	}
	list, err := c.ResourceList(ctx, &machine.ResourceListRequest{Type: resources.TypeHostnameStatus})
	if err != nil || len(list.Resources) != 1 {
		t.Fatalf("list = %v, %v", list, err)
	}
	// No type: every resource of every type, or of one namespace.
	if _, err := store.Create(resources.Resource{
		Metadata: resources.Metadata{Namespace: resources.NamespaceRuntime, Type: resources.TypeMachineStatus, ID: resources.MachineStatusID, Owner: "machined"},
		Spec:     &resources.MachineStatusSpec{Stage: resources.StageRunning},
	}); err != nil {
		t.Fatal(err)
	}
	if all, err := c.ResourceList(ctx, &machine.ResourceListRequest{}); err != nil || len(all.Resources) != 2 {
		t.Errorf("list of everything = %v, %v, want both resources", all, err)
	}
	if net, err := c.ResourceList(ctx, &machine.ResourceListRequest{Namespace: resources.NamespaceNetwork}); err != nil || len(net.Resources) != 1 || net.Resources[0].Metadata.Type != resources.TypeHostnameStatus {
		t.Errorf("list of namespace network = %v, %v", net, err)
	}
	if _, err := c.ResourceList(ctx, &machine.ResourceListRequest{Namespace: "nosuch"}); status.Code(err) != codes.NotFound {
		t.Errorf("list of an unknown namespace: %v", err)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	w, err := c.ResourceWatch(wctx, &machine.ResourceWatchRequest{Type: resources.TypeHostnameStatus})
	if err != nil {
		t.Fatal(err)
	}
	var types []machine.ResourceEvent_Type
	for len(types) < 2 {
		ev, err := w.Recv()
		if err != nil {
			t.Fatal(err)
		}
		types = append(types, ev.Type)
	}
	if types[0] != machine.ResourceEvent_CREATED || types[1] != machine.ResourceEvent_BOOTSTRAPPED {
		t.Errorf("watch began with %v", types)
	}
}

func TestPCRRead(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "pcr-sha256"), 0o755)
	for i := 0; i <= maxPCR; i++ {
		os.WriteFile(filepath.Join(dir, "pcr-sha256", strconv.Itoa(i)), []byte("AB01\n"), 0o644)
	}
	c := start(t, &Server{TPM: SysfsTPM{Dir: dir, EventLogPath: filepath.Join(dir, "none")}})
	ctx := context.Background()
	resp, err := c.PCRRead(ctx, &machine.PCRReadRequest{Pcrs: []uint32{7, 11}})
	if err != nil || len(resp.Banks) != 1 || len(resp.Banks[0].Values) != 2 || resp.Banks[0].Values[11][0] != 0xab {
		t.Fatalf("PCRRead = %v, %v", resp, err)
	}
	if _, err := c.PCRRead(ctx, &machine.PCRReadRequest{Banks: []string{"sha384"}}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("inactive bank: %v", err)
	}
	if _, err := c.PCRRead(ctx, &machine.PCRReadRequest{Pcrs: []uint32{24}}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("PCR 24: %v", err)
	}
	c2 := start(t, &Server{TPM: SysfsTPM{Dir: t.TempDir()}})
	if _, err := c2.PCRRead(ctx, &machine.PCRReadRequest{}); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("no TPM: %v", err)
	}
}

func TestApplyConfiguration(t *testing.T) {
	store, cfg := secretStore(t)
	var got configstate.Request
	c := start(t, &Server{Resources: store, Apply: func(ctx context.Context, req configstate.Request) (configstate.Result, error) {
		got = req
		switch string(req.Data) {
		case "bad":
			return configstate.Result{}, &config.FieldError{Path: "machine.type", Reason: "bad"}
		case "install":
			return configstate.Result{}, &config.NeedsRebootError{Paths: []string{"machine.install.disk"}}
		case "busy":
			return configstate.Result{}, configstate.ErrBusy
		}
		return configstate.Result{Applied: configstate.AppliedDryRun, Changes: []config.Change{
			{Path: "machine.network.hostname", Old: "a", New: "b"},
			{Path: "machine.token", Old: cfg.Machine.Token, New: "(redacted)", Reboot: true}}}, nil
	}})
	ctx := context.Background()
	resp, err := c.ApplyConfiguration(ctx, &machine.ApplyConfigurationRequest{Data: []byte("version: v1alpha1"), DryRun: true, Mode: machine.ApplyConfigurationRequest_NO_REBOOT})
	if err != nil || resp.ModeApplied != "dry_run" || !got.DryRun || got.Mode != configstate.ModeNoReboot {
		t.Fatalf("apply = %v, %v (request %+v)", resp, err, got)
	}
	if !strings.Contains(resp.Diff, "machine.network.hostname: a → b\n") || len(resp.Changes) != 2 || resp.Changes[0].NewValue != "b" {
		t.Errorf("diff %q, changes %v", resp.Diff, resp.Changes)
	}
	if strings.Contains(resp.Diff, cfg.Machine.Token) || resp.Changes[1].OldValue != redacted {
		t.Errorf("the diff shows the token: %q %v", resp.Diff, resp.Changes[1])
	}
	for data, code := range map[string]codes.Code{"bad": codes.InvalidArgument, "install": codes.FailedPrecondition, "busy": codes.Aborted} {
		_, err := c.ApplyConfiguration(ctx, &machine.ApplyConfigurationRequest{Data: []byte(data)})
		if status.Code(err) != code {
			t.Errorf("%s: %v, want %v", data, err, code)
		}
		if data == "install" && !strings.Contains(status.Convert(err).Message(), "machine.install.disk") {
			t.Errorf("refusal does not name the field: %v", err)
		}
	}
	c2 := start(t, &Server{})
	if _, err := c2.ApplyConfiguration(ctx, &machine.ApplyConfigurationRequest{}); status.Code(err) != codes.Unavailable {
		t.Errorf("no Apply: %v", err)
	}
}

func TestInspectControllers(t *testing.T) {
	c := start(t, &Server{Controllers: func() []controller.Info {
		return []controller.Info{{Name: "SysctlController", Inputs: []controller.Input{{Namespace: "config", Type: "MachineConfig"}},
			Outputs: []controller.Output{{Type: resources.TypeSysctlStatus}}}}
	}})
	resp, err := c.InspectControllers(context.Background(), &machine.InspectControllersRequest{})
	if err != nil || len(resp.Controllers) != 1 {
		t.Fatal(resp, err)
	}
	got := resp.Controllers[0]
	if got.Name != "SysctlController" || got.Inputs[0].Type != "MachineConfig" || got.Outputs[0].Namespace != resources.NamespaceRuntime {
		t.Errorf("controller %v", got)
	}
}
